"""QSER Lab core library: speech emotion recognition with classical and quantum heads.

The modules follow the pipeline: ``data`` (corpora and labels; ``corpora`` holds the
file-name conventions, ``splits`` the speaker-disjoint splits, ``download`` and ``demo``
(with ``espeak``) fetch or make corpora) → ``audio`` (load, trim, fix length) → ``features`` (log-mel) →
``backbones`` + ``embeddings`` (frozen pre-trained networks, disk cache) → ``reduce``
(PCA to qubit angles) → ``heads`` (classical and PQC heads, the batched simulator) →
``train`` / ``metrics`` → ``experiment`` (cross-validation, paired tests), ``model`` (one
saved model), ``hybrid`` + ``hybrid_experiment`` (end-to-end) → ``tracking`` / ``runs`` (MLflow records).
This package never imports Streamlit.
"""

from qser_core.config import QserConfig, load_config
from qser_core.errors import AudioError, BackendError, ConfigError, DataError, QserError

__version__ = "0.1.0"

__all__ = [
    "QserConfig",
    "load_config",
    "QserError",
    "ConfigError",
    "DataError",
    "AudioError",
    "BackendError",
]

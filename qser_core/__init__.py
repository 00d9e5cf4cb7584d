"""QSER Lab core library: speech emotion recognition with classical and quantum heads.

The modules follow the pipeline: ``data`` (corpora, labels, speaker-disjoint
splits) → ``audio`` (load, trim, fix length) → ``features`` (log-mel) →
``embeddings`` (frozen pre-trained backbones, disk cache) → ``reduce`` (PCA to
qubit angles) → ``heads`` (classical and PQC heads) → ``train`` / ``metrics`` /
``tracking`` → ``hardware``. This package never imports Streamlit.
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

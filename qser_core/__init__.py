"""QSER Lab core library: speech emotion recognition with classical and quantum heads.

The subpackages follow the pipeline: ``data`` (corpora, labels, speaker-disjoint splits, audio
decoding) → ``features`` (log-mel, frozen backbones, embedding cache, reduction to qubit angles) →
``heads`` (classical and PQC heads, circuits, simulators, the training loop) → ``experiments``
(the pipeline layer and the protocols: single split, cross-validation, hybrid; metrics) →
``tracking`` (MLflow run records). ``config``, ``errors`` and ``cli`` sit beside them.
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

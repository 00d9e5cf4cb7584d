"""Exception family of QSER Lab.

Every error a user can cause (a bad setting, a missing folder, a corrupt clip, a
failed hardware job) is a :class:`QserError`. The CLI and the dashboard catch
``QserError`` and show its message; anything else is a bug and keeps its
traceback. Each subclass also inherits the matching builtin, so callers that
already catch ``ValueError`` or ``RuntimeError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "QserError",
    "ConfigError",
    "DataError",
    "AudioError",
    "BackendError",
    "StorageError",
    "TrainingCancelled",
]


class QserError(Exception):
    """Root of every error QSER Lab raises on purpose."""


class ConfigError(QserError, ValueError):
    """A setting is unknown, of the wrong type or out of range."""


class DataError(QserError, ValueError):
    """A corpus, folder, manifest or split cannot be used as asked."""


class AudioError(QserError, ValueError):
    """An audio file is corrupt, empty, silent, too long or not audio."""


class BackendError(QserError, RuntimeError):
    """A backbone, simulator, download or hardware service failed."""


class StorageError(QserError, OSError):
    """A folder QSER Lab must write cannot take it: read-only, full, or a file where a folder should be."""


class TrainingCancelled(QserError):
    """Training was stopped through a cancel token (the best model so far is kept)."""

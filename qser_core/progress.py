"""How long work reports how far it got, and how it is asked to stop.

Every long-running function of the library takes ``progress`` (a :data:`Progress` callback) and,
where it trains, ``cancel`` (a :class:`CancelToken`). The CLI draws a bar from the callback; the
dashboard's Train job stores it for the page and cancels through the token from the Stop button.

A token is a flag file: copies made by ``pickle`` (a :class:`concurrent.futures.ProcessPoolExecutor`
or a Ray task receiving it as an argument) see a cancel requested in any process on the machine.
A ``threading.Event`` cannot be pickled and a ``multiprocessing.Event`` reaches only processes
started with it, which is why the flag lives in the file system.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Callable

__all__ = ["Progress", "CancelToken"]

#: ``progress(done, total, message)``: ``done`` of ``total`` steps finished, ``message`` says which.
Progress = Callable[[int, int, str], None]


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class CancelToken:
    """A flag that asks running work to stop between batches, in this process or another one.

    Parameters
    ----------
    folder : str or path-like, optional
        Where the flag file goes (default: the system's temporary folder). Workers on other
        machines need a folder they share.

    Attributes
    ----------
    path : pathlib.Path
        The flag file; it exists once :meth:`cancel` was called.

    Notes
    -----
    The token that created the flag removes it when it is garbage collected; unpickled copies
    never do, so a worker cannot clear a cancel that its parent asked for.

    Examples
    --------
    >>> import pickle
    >>> token = CancelToken()
    >>> copy = pickle.loads(pickle.dumps(token))  # what a worker process receives
    >>> token.cancel(); copy.cancelled
    True
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.path = Path(folder or tempfile.gettempdir()) / f"qser-cancel-{uuid.uuid4().hex}"
        self._seen = False
        weakref.finalize(self, _remove, str(self.path))

    def cancel(self) -> None:
        """Ask the work holding this token (or a copy of it) to stop."""
        self._seen = True
        self.path.touch()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called on this token or on any copy of it."""
        # one stat per check (~1 µs): cheap next to a training batch; once set it stays set
        self._seen = self._seen or self.path.exists()
        return self._seen

    def __getstate__(self) -> dict:
        return {"path": self.path, "_seen": self._seen}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)  # no finalizer: the flag belongs to the token that made it

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"

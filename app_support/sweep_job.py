"""A sweep running in a background thread for the Sweeps page: progress, the live table, Stop.

:func:`qser_core.experiments.sweep.run_sweep` does the work (Ray tasks, MLflow records); the thread only
keeps what the page shows behind a lock. The Stop button cancels the job's token, which cancels the
Ray tasks and marks the sweep interrupted. No Streamlit call happens in the thread.
"""

from __future__ import annotations

import copy
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from qser_core.config import QserConfig
from qser_core.errors import QserError
from qser_core.experiments.sweep import SweepResult
from qser_core.progress import CancelToken


@dataclass
class SweepSnapshot:
    """A consistent copy of the job for one page render."""

    status: str  # running | finished | interrupted | failed
    progress: tuple[int, int, str]
    result: SweepResult | None
    error: str

    @property
    def finished(self) -> bool:
        return self.status != "running"


class SweepJob:
    """Run one sweep in a daemon thread.

    Parameters
    ----------
    config : QserConfig
        The base config (the session's).
    grid : dict
        ``"section.field"`` → values.
    name : str, optional
        Sweep name (a recorded name resumes).
    """

    def __init__(self, config: QserConfig, grid: Mapping[str, Sequence[Any]], *, name: str | None = None) -> None:
        self.config, self.grid, self.name = config, dict(grid), name
        self.cancel_token = CancelToken()
        self._lock = threading.Lock()
        self._status, self._error = "running", ""
        self._progress: tuple[int, int, str] = (0, 1, "starting Ray")
        self._result: SweepResult | None = None
        self._thread = threading.Thread(target=self._run, name="qser-sweep", daemon=True)

    def start(self) -> "SweepJob":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.cancel_token.cancel()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            return SweepSnapshot(self._status, self._progress, copy.deepcopy(self._result), self._error)

    def _on_progress(self, done: int, total: int, message: str = "") -> None:
        with self._lock:
            self._progress = (done, total, message)

    def _on_update(self, result: SweepResult) -> None:
        with self._lock:
            self._result = copy.deepcopy(result)

    def _run(self) -> None:
        from qser_core.experiments.sweep import run_sweep

        try:
            result = run_sweep(self.config, self.grid, name=self.name, progress=self._on_progress,
                               cancel=self.cancel_token, on_update=self._on_update)
            with self._lock:
                self._result, self._status = result, result.status
        except QserError as exc:
            with self._lock:
                self._status, self._error = "failed", str(exc)
        except Exception as exc:  # a bug: a readable message here, the traceback in the log
            traceback.print_exc()
            with self._lock:
                self._status, self._error = "failed", f"the sweep failed: {type(exc).__name__}: {exc}"

"""A sweep running in a background thread for the Sweeps page: progress, the live table, Stop.

:func:`qser_core.experiments.sweep.run_sweep` does the work (Ray tasks, MLflow records); the thread only
keeps what the page shows behind a lock. The Stop button cancels the job's token, which cancels the
Ray tasks and marks the sweep interrupted. No Streamlit call happens in the thread.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from app_support.background import BackgroundJob
from qser_core.config import QserConfig
from qser_core.experiments.sweep import SweepResult


@dataclass
class SweepSnapshot:
    """A consistent copy of the job for one page render."""

    status: str  # queued | running | finished | interrupted | failed
    progress: tuple[int, int, str]
    result: SweepResult | None
    error: str

    @property
    def finished(self) -> bool:
        return self.status in ("finished", "interrupted", "failed")


class SweepJob(BackgroundJob):
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

    thread_name, failure = "qser-sweep", "the sweep failed"

    def __init__(self, config: QserConfig, grid: Mapping[str, Sequence[Any]], *, name: str | None = None) -> None:
        self.config, self.grid, self.name = config, dict(grid), name
        super().__init__()
        self._progress = (0, 1, "starting Ray")
        self._result: SweepResult | None = None

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            return SweepSnapshot(self._status, self._progress, copy.deepcopy(self._result), self._error)

    def _on_update(self, result: SweepResult) -> None:
        with self._lock:
            self._result = copy.deepcopy(result)

    def _work(self) -> str:
        from qser_core.experiments.sweep import run_sweep

        result = run_sweep(self.config, self.grid, name=self.name, progress=self._on_progress,
                           cancel=self.cancel_token, on_update=self._on_update)
        with self._lock:
            self._result = result
        return result.status

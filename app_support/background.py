"""The thread every dashboard job runs in: start, Stop, progress and failure handling, written once.

A :class:`BackgroundJob` runs one library call (:meth:`BackgroundJob._work`) in a daemon thread, so the work
carries on while the user visits other pages. What the page shows stays behind a lock and is read through a
snapshot. The library call gets the job's :class:`qser_core.progress.RunContext` (:meth:`BackgroundJob.run_context`):
its progress goes to the snapshot, and Stop cancels its token, which the library checks between steps. No
Streamlit call happens in the thread.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from qser_core.errors import QserError, TrainingCancelled
from qser_core.progress import CancelToken, Event, RunContext


class BackgroundJob:
    """One library call in a daemon thread; subclasses implement :meth:`_work`.

    ``_status`` goes ``queued`` → ``running`` → whatever :meth:`_work` returns, or ``failed`` with
    ``_error`` set: a :class:`~qser_core.errors.QserError`'s own message, or for a bug its type and message
    (the traceback goes to the server log), so the page never shows a traceback.
    """

    thread_name = "qser-job"
    failure = "the job failed"  # how an unexpected error's message starts

    def __init__(self) -> None:
        self.cancel_token = CancelToken()
        self._lock = threading.Lock()
        self._status, self._error = "queued", ""
        self._progress: tuple[int, int, str] = (0, 1, "waiting")
        self._start = self._end = 0.0
        self._thread = threading.Thread(target=self._guarded, name=self.thread_name, daemon=True)

    def start(self):
        """Start the thread; returns the job."""
        self._start = time.perf_counter()
        with self._lock:
            self._status = "running"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the work to stop at its next check (what finished is kept)."""
        self.cancel_token.cancel()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _seconds(self) -> float:
        """Seconds since start (until the end once finished); 0 before start."""
        return (self._end or time.perf_counter()) - self._start if self._start else 0.0

    def run_context(self, *, track: bool = True, on_event: Callable[[Event], None] | None = None) -> RunContext:
        """The context the library call runs with: progress to the snapshot, Stop through the job's token."""
        return RunContext(progress=self._on_progress, cancel=self.cancel_token, track=track, on_event=on_event)

    def _on_progress(self, done: int, total: int, message: str = "") -> None:
        with self._lock:
            self._progress = (done, total, message)

    def _work(self) -> str:
        """Do the job; return the final status."""
        raise NotImplementedError

    def _guarded(self) -> None:
        try:
            status = self._work()
            with self._lock:
                self._status = status
        except QserError as exc:
            with self._lock:
                self._status, self._error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug: a readable message here, the traceback in the log
            traceback.print_exc()
            with self._lock:
                self._status, self._error = "failed", f"{self.failure}: {type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._end = time.perf_counter()


@dataclass(frozen=True)
class CallSnapshot:
    """A consistent copy of a :class:`CallJob` for one render."""

    status: str  # running | done | stopped | failed
    progress: tuple[int, int, str]  # done, total, message
    error: str  # failed: what went wrong; stopped: the library's message (what was kept, what to do)
    result: Any  # the call's return value once done, else None
    seconds: float

    @property
    def finished(self) -> bool:
        return self.status != "running"


class CallJob(BackgroundJob):
    """One library call that takes ``context=`` (a noise curve, the shots advice, a comparison), in the background.

    ``call(context=...)`` runs with :meth:`BackgroundJob.run_context`, so the page shows its progress and Stop
    reaches it between its jobs; the library raises :class:`~qser_core.errors.TrainingCancelled` there, and the
    job ends ``stopped`` with that message.

    Parameters
    ----------
    call : callable
        ``call(context=RunContext)``, returning the result the page shows.
    track : bool, default=True
        The context's ``track`` (a noise curve records its run and jobs).
    """

    thread_name = "qser-offline"
    failure = "the offline jobs failed"

    def __init__(self, call: Callable[..., Any], *, track: bool = True) -> None:
        super().__init__()
        self._call, self._track, self._result = call, track, None

    def snapshot(self) -> CallSnapshot:
        """Status, progress, message and result, read together."""
        with self._lock:
            return CallSnapshot(self._status, self._progress, self._error, self._result, self._seconds())

    def _work(self) -> str:
        try:
            result = self._call(context=self.run_context(track=self._track))
        except TrainingCancelled as exc:
            with self._lock:
                self._error = str(exc)
            return "stopped"
        with self._lock:
            self._result = result
        return "done"

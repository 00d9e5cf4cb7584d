"""A sweep for the Sweeps page, run in its own process: progress, the live table, Stop.

Why a process: Ray started from a thread of the Streamlit server tied its local head to that thread, and
~60 s after the sweep ended Ray's GCS watchdog terminated the whole server ("Failed to connect to GCS
within 60 seconds", issue 19). Here the server never imports Ray: a child process
(``python -m app_support.sweep_job``) runs :func:`qser_core.experiments.sweeps.runner.run_sweep`, owns Ray from
start to exit (``ray.shutdown`` on the way out), and tells the server how it goes. The thread of
:class:`SweepJob` only relays those messages. No Streamlit call happens in either.

The protocol, one JSON object per line:

- server → child (stdin): first the request ``{"config": {...}, "grid": {...}, "name": ...}``, then
  ``"stop"`` to stop. End of input (the server went away) stops the sweep too, so no sweep outlives
  the server unwatched.
- child → server (its stdout): ``{"progress": [done, total, message]}``, ``{"update": summary}``
  whenever a configuration is recorded or fails, then ``{"result": summary}`` or ``{"error": message}``.
  Everything else the child or Ray prints goes to stderr (the server's log), never into the protocol.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from app_support.background import BackgroundJob
from qser_core.config import QserConfig
from qser_core.errors import QserError
from qser_core.experiments.sweeps.runner import SweepResult

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SweepSnapshot:
    """A consistent copy of the job for one page render."""

    status: str  # queued | running | stopping | finished | interrupted | failed
    progress: tuple[int, int, str]
    result: SweepResult | None
    error: str
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status in ("finished", "interrupted", "failed")

    def left(self) -> str:
        """What is left to run, e.g. ``"18 of 24 tasks left (3 configurations), ~2 min"``."""
        done, total, _ = self.progress
        if self.finished or total <= 1 and done == 0:
            return ""
        pending = sum(c["status"] == "pending" for c in self.result.configurations) if self.result else 0
        text = f"{total - done} of {total} tasks left" + (f" ({pending} configurations)" if pending else "")
        if done and self.seconds:
            text += f", ~{_duration(self.seconds / done * (total - done))} at the pace so far"
        return text


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class SweepJob(BackgroundJob):
    """Run one sweep in a child process; a daemon thread relays its progress.

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
        self.config, self.grid, self.name = config, {k: [str(v) for v in vals] for k, vals in grid.items()}, name
        super().__init__()
        self._progress = (0, 1, "starting the sweep process and Ray")
        self._result: SweepResult | None = None
        self._process: subprocess.Popen | None = None
        self._stopping = False

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            status = "stopping" if self._stopping and self._status == "running" else self._status
            return SweepSnapshot(status, self._progress, copy.deepcopy(self._result), self._error, self._seconds())

    def stop(self) -> None:
        """Ask the sweep process to stop: running tasks are cancelled, finished configurations stay recorded."""
        super().stop()
        with self._lock:
            self._stopping, process = True, self._process
        if process is not None:
            _send(process, "stop")

    def _work(self) -> str:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        # Its own session: a Ctrl-C in the server's terminal stops the server, whose end closes the pipe,
        # which stops the sweep cleanly (interrupted, finished configurations kept).
        process = subprocess.Popen([sys.executable, "-m", "app_support.sweep_job"], cwd=ROOT, env=env, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1, start_new_session=True)
        with self._lock:
            self._process = process
        _send(process, {"config": self.config.to_dict(), "grid": self.grid, "name": self.name})
        if self.cancel_token.cancelled:  # Stop pressed before the process existed
            _send(process, "stop")
        status = None
        for line in process.stdout:
            status = self._receive(line) or status
        code = process.wait()
        if status is None:
            raise QserError(f"the sweep process ended with exit code {code} before reporting a result; "
                            "the server's log holds its output. Finished configurations stay recorded")
        return status

    def _receive(self, line: str) -> str | None:
        """Apply one message; returns the final status when the message is the last one."""
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            return None  # not ours (the child sends everything else to stderr; this is a safeguard)
        if "progress" in message:
            self._on_progress(*message["progress"])
        elif "update" in message or "result" in message:
            result = SweepResult(**(message.get("update") or message["result"]))
            with self._lock:
                self._result = result
                if result.run_id and not self.name:
                    self.name = result.name
            return result.status if "result" in message else None
        elif "error" in message:
            raise QserError(message["error"])
        return None


def _send(process: subprocess.Popen, message: Any) -> None:
    try:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
    except (BrokenPipeError, ValueError, OSError):  # the process already ended
        pass


# ------------------------------------------------------------------ the child process
def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _child() -> int:
    """``python -m app_support.sweep_job``: run the requested sweep, report on the protocol pipe."""
    from qser_core.experiments.sweeps.runner import run_sweep, shutdown_ray
    from qser_core.progress import CancelToken, RunContext

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # Ray and native libraries print to fd 1: send it to the server's log instead
    sys.stdout = sys.stderr
    lock = threading.Lock()

    def say(message: Mapping[str, Any]) -> None:
        with lock:
            protocol.write(json.dumps(message, default=_jsonable) + "\n")

    request = json.loads(sys.stdin.readline())
    cancel = CancelToken()

    def listen() -> None:  # "stop", or the end of input (the server went away), cancels the sweep
        for line in sys.stdin:
            if line.strip() == '"stop"':
                break
        cancel.cancel()

    threading.Thread(target=listen, name="qser-sweep-stdin", daemon=True).start()
    try:
        context = RunContext(progress=lambda d, t, m="": say({"progress": [d, t, m]}), cancel=cancel,
                             on_event=lambda e: say({"update": e.payload.summary()}) if e.kind == "sweep" else None)
        result = run_sweep(QserConfig.from_dict(request["config"]), request["grid"], name=request["name"],
                           context=context)
        say({"result": result.summary()})
    except QserError as exc:
        say({"error": str(exc)})
    except KeyboardInterrupt:
        say({"error": "the sweep process was interrupted; finished configurations are kept"})
    except Exception as exc:  # noqa: BLE001 - a bug: the traceback to the log, a readable line to the page
        import traceback

        traceback.print_exc()
        say({"error": f"the sweep failed: {type(exc).__name__}: {exc}"})
    finally:
        shutdown_ray()
    return 0


if __name__ == "__main__":
    sys.exit(_child())

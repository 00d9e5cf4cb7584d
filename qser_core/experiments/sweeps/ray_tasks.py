"""Ray for sweeps: start or join a session quietly and safely, run tasks, stop them.

Used by :mod:`qser_core.experiments.sweeps.runner`. Ray is started by the process that drives the sweep (``qser
sweep``, or the dashboard's sweep process, :mod:`app_support.sweep_job`), never from a thread of a
long-lived server: Ray's local head lives as long as that process and :func:`shutdown_ray` ends it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from qser_core.errors import BackendError, ConfigError, TrainingCancelled
from qser_core.progress import CancelToken

__all__ = ["init_ray", "shutdown_ray", "drain"]


def init_ray(*, address: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """Connect to Ray: reuse a running session, else a cluster (``address`` / ``RAY_ADDRESS``), else start one here.

    While Ray starts, SIGTERM, SIGHUP and Ctrl-C are held back and raised once the start-up is complete
    (after shutting Ray down again): interrupted half-way, Ray's native core aborted the process with a
    dump (exit 134). What Ray prints on stdout while starting goes to stderr, so ``--json`` output stays
    one object.

    Parameters
    ----------
    address : str, optional
        ``"auto"`` or ``"HOST:6379"`` of a cluster started with ``ray start --head``.
    workers : int, optional
        Local only: worker processes (default: every core).

    Returns
    -------
    dict
        ``address`` (of the session) and ``cpus`` (cluster total).
    """
    import ray

    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        if workers is not None and workers < 1:
            raise ConfigError(f"workers must be at least 1; got {workers!r}")
        kwargs = {} if address else {"num_cpus": workers or os.cpu_count(), "include_dashboard": False}
        with _signals_held() as held, _stdout_to_stderr():
            try:
                # log_to_driver=False: worker output would land on stdout and break `--json`.
                ray.init(address=address, log_to_driver=False, configure_logging=False, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BackendError(f"cannot connect to Ray at {address!r}: {exc}. Start a cluster with `ray start "
                                   "--head` and pass its address, or leave address and RAY_ADDRESS unset to run "
                                   "here") from exc
        if held:
            shutdown_ray()
            _raise_held(held[0])
        # Ray prints the raylet's notices (a task retried, a worker died) on stdout, which broke `--json`;
        # the sweep reports failures itself (`error` of the cell), so they are switched off.
        from ray._private import worker as ray_worker

        if hasattr(ray_worker, "_worker_logs_enabled"):
            ray_worker._worker_logs_enabled = False
    return {"address": ray.get_runtime_context().gcs_address, "cpus": int(ray.cluster_resources().get("CPU", 0))}


def shutdown_ray() -> None:
    """Stop this process's Ray session (its local head too, when it started one); nothing if Ray never started."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        with _stdout_to_stderr():
            ray.shutdown()


@contextmanager
def _signals_held() -> Iterator[list[int]]:
    """Record SIGINT / SIGTERM / SIGHUP instead of acting on them (main thread only); yields the list.

    ``ray.init`` installs SIGTERM handlers of its own (``sys.exit(15)`` from wherever the start-up is,
    and kept afterwards, so qser's "stopped" handling was lost); it is kept from doing so for the block,
    and the handlers in place before are restored after it.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    from ray._private import utils as ray_utils

    names = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in names}
    ray_setter = getattr(ray_utils, "set_sigterm_handler", None)
    if ray_setter is not None:
        ray_utils.set_sigterm_handler = lambda handler: None
    try:
        yield held
    finally:
        if ray_setter is not None:
            ray_utils.set_sigterm_handler = ray_setter
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _raise_held(signum: int) -> None:
    """Act on a signal held during Ray's start-up as its own handler would have (the CLI's raises)."""
    handler = signal.getsignal(signum)
    if callable(handler):
        handler(signum, None)
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name} while Ray was starting")


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keep Ray quiet for the block: fd 1 points at stderr (Ray's processes and native code print there,
    and the processes it starts keep it), and Ray's own warnings (the token notice) stay below ERROR."""
    quiet, level = logging.getLogger("ray"), logging.getLogger("ray").level
    quiet.setLevel(logging.ERROR)
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real stdout (captured in tests): nothing to protect
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)
        quiet.setLevel(level)


def _remote(fn):
    import ray

    # max_retries covers a dead worker, retry_exceptions an exception raised by the task: once each.
    return ray.remote(num_cpus=1, max_retries=1, retry_exceptions=True)(fn)


def drain(pending: dict, on_result, on_error, *, cancel: CancelToken | None = None, poll: float = 0.25) -> None:
    """Wait for Ray tasks as they finish; cancel the rest on ``cancel`` or Ctrl-C.

    Parameters
    ----------
    pending : dict
        ``ObjectRef`` → key; emptied as tasks finish.
    on_result, on_error : callable
        ``on_result(key, value)`` / ``on_error(key, message)`` for each finished task (after
        Ray's one retry).
    cancel : CancelToken, optional

    Raises
    ------
    TrainingCancelled
        When cancelled (the remaining tasks are cancelled with ``ray.cancel``).
    """
    import ray
    from ray.exceptions import RayError, RayTaskError

    try:
        while pending:
            if cancel is not None and cancel.cancelled:
                raise TrainingCancelled("the sweep was stopped; finished configurations are kept")
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll)
            for ref in ready:
                key = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except RayTaskError as exc:
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    on_error(key, f"{type(cause).__name__}: {cause}"[:2000])
                    continue
                except RayError as exc:  # the worker died twice, or the node went away
                    on_error(key, f"{type(exc).__name__}: {exc}"[:2000])
                    continue
                on_result(key, value)
    except (KeyboardInterrupt, TrainingCancelled):
        if cancel is not None:
            cancel.cancel()  # running fits stop between batches
        for ref in pending:
            ray.cancel(ref)
        raise

"""Where sweeps are recorded: the parent MLflow run of a sweep and one child run per configuration.

Used by :mod:`qser_core.experiments.sweeps.runner` (only the driver writes). A sweep's parent run carries the tag
``qser.sweep = NAME`` and the artefact ``sweep.json`` (what ``qser sweep show NAME`` prints); each child
run is recorded like one ``qser evaluate`` run (config, summary with 95% intervals, per-clip predictions,
folds, speaker split) plus the tags ``qser.sweep`` and ``mlflow.parentRunId``. A re-run of the sweep
reopens its parent run and finds finished children by ``qser.config_digest``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError, TrainingCancelled

__all__ = ["check_name", "parent_run", "finished_children", "record_child", "load_summary", "parent_status",
           "list_parents"]

_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")


def check_name(name: str) -> None:
    """Sweep names go into MLflow filters: letters, digits, ``_ . -`` only."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"sweep name must be 1-100 letters, digits, '_', '.' or '-' (starting with a letter or "
                          f"digit); got {name!r}")


def _search(filter_string: str, *, max_results: int = 5000) -> list:
    from qser_core.tracking import store

    client = store.client()
    experiment_id = store.experiment_id(client, store.experiment_name(), create=False)
    if experiment_id is None:
        return []
    return client.search_runs([experiment_id], filter_string=filter_string, max_results=max_results,
                              order_by=["attributes.start_time DESC"])


def _parent(name: str):
    runs = _search(f"tags.`qser.sweep` = '{name}' and tags.`qser.run_type` = 'sweep'", max_results=1)
    return runs[0] if runs else None


@contextmanager
def parent_run(name: str, base: QserConfig, grid: Mapping[str, Sequence[Any]]) -> Iterator[Any]:
    """The sweep's parent run: created on the first run of ``name``, reopened on every later one.

    Yields the :class:`~qser_core.tracking.recorder.RunRecorder`. On leaving, the run is marked
    ``finished``, or ``interrupted`` (Ctrl-C, cancel) or ``failed`` with the reason.
    """
    from qser_core.tracking.recorder import reopen_run, track_run

    existing = _parent(name)
    if existing is None:
        with track_run(base, run_type="sweep", tags={"qser.sweep": name}) as recorder:
            recorder.log_json("grid.json", {k: [str(v) for v in vals] for k, vals in grid.items()})
            yield recorder
        return
    from qser_core.tracking.recorder import process_tags

    with reopen_run(existing.info.run_id) as recorder:
        recorder.set_tag("qser.status", "running")
        for key, value in process_tags().items():  # this process drives it now: a later kill is told by it
            recorder.set_tag(key, value)
        try:
            yield recorder
        except BaseException as exc:  # reopen_run leaves the status as it was: say what happened
            interrupted = isinstance(exc, (KeyboardInterrupt, TrainingCancelled))
            recorder.set_tag("qser.status", "interrupted" if interrupted else "failed")
            recorder.set_tag("qser.reason", f"{type(exc).__name__}: {exc}")
            raise
        recorder.set_outcome("finished")


def finished_children(name: str) -> dict[str, dict[str, Any]]:
    """Finished configurations of sweep ``name``: config digest → ``run_id``, ``summary``, ``predictions``."""
    from qser_core.tracking.reader import load_json

    found: dict[str, dict[str, Any]] = {}
    for run in _search(f"tags.`qser.sweep` = '{name}' and tags.`qser.run_type` = 'evaluate' "
                       "and tags.`qser.status` = 'finished'"):
        digest = run.data.tags.get("qser.config_digest", "")
        if digest in found:
            continue  # newest first: an older duplicate is ignored
        final, predictions = load_json(run.info.run_id, "final.json"), load_json(run.info.run_id, "predictions.json")
        if final and predictions:
            found[digest] = {"run_id": run.info.run_id, "summary": final, "predictions": predictions}
    return found


def record_child(parent, config: QserConfig, name: str, evaluation) -> str:
    """Write one finished configuration as a child run of ``parent``, as ``qser evaluate`` records a run."""
    from qser_core.experiments.protocols.crossval import _record
    from qser_core.tracking.recorder import track_run

    with track_run(config, run_type="evaluate", tags={"qser.sweep": name}, parent_run_id=parent.run_id) as recorder:
        evaluation.run_id = recorder.run_id
        _record(recorder, evaluation)
    return recorder.run_id


def load_summary(name: str) -> dict[str, Any]:
    """The ``sweep.json`` of sweep ``name``'s parent run, with the status the store says.

    A sweep whose driver was killed (SIGKILL, out of memory: no time to write its end) is
    ``interrupted``: its unfinished cells ``cancelled``, its finished ones as recorded, and ``reason``
    saying what happened and how to resume.
    """
    from qser_core.tracking.reader import load_json

    check_name(name)
    parent = _parent(name)
    if parent is None:
        raise DataError(f"no sweep named {name!r} in the run store; list sweeps with `qser sweep list`")
    record = load_json(parent.info.run_id, "sweep.json") or _empty_record(name, parent)
    status, reason = parent_status(parent)
    record.update(status=status, reason=reason)
    if status != "running":  # nothing will finish these any more
        for entry in record.get("configurations", []):
            entry["status"] = "cancelled" if entry.get("status") == "pending" else entry.get("status")
    return record


def _empty_record(name: str, parent) -> dict[str, Any]:
    """A sweep killed before it wrote its first ``sweep.json``: its axes, no cells yet."""
    from qser_core.tracking.reader import load_json

    grid = load_json(parent.info.run_id, "grid.json") or {}
    return {"name": name, "run_id": parent.info.run_id, "status": "", "axes": list(grid), "tasks": {},
            "seconds": 0.0, "configurations": []}


def parent_status(run) -> tuple[str, str]:
    """``(status, reason)`` of a sweep's parent run: ``interrupted`` when its driver died without closing it."""
    from qser_core.tracking.reader import process_gone

    tags = run.data.tags
    status, reason = tags.get("qser.status", ""), tags.get("qser.reason", "")
    if run.info.status == "RUNNING" and process_gone(tags):
        return "interrupted", (f"the sweep's process {tags.get('qser.pid')} ended without closing it (killed or "
                               "crashed); finished configurations are kept: run the same command again to resume")
    return status, reason


def list_parents() -> pd.DataFrame:
    """Recorded sweeps, newest first: ``name``, ``run_id``, ``status``, ``start_time``."""
    runs = _search("tags.`qser.run_type` = 'sweep'")
    rows = [{"name": r.data.tags.get("qser.sweep", ""), "run_id": r.info.run_id, "status": parent_status(r)[0],
             "start_time": pd.Timestamp(r.info.start_time, unit="ms", tz="UTC")} for r in runs]
    return pd.DataFrame(rows, columns=["name", "run_id", "status", "start_time"])

"""Where sweeps are recorded: the parent MLflow run of a sweep and one child run per configuration.

Used by :mod:`qser_core.experiments.sweep` (only the driver writes). A sweep's parent run carries the tag
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

__all__ = ["check_name", "parent_run", "finished_children", "record_child", "load_summary", "list_parents"]

_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")


def check_name(name: str) -> None:
    """Sweep names go into MLflow filters: letters, digits, ``_ . -`` only."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"sweep name must be 1-100 letters, digits, '_', '.' or '-' (starting with a letter or "
                          f"digit); got {name!r}")


def _search(filter_string: str, *, max_results: int = 5000) -> list:
    from qser_core.tracking.recorder import _client, experiment_name, tracking_uri

    client = _client(tracking_uri())
    experiment = client.get_experiment_by_name(experiment_name())
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], filter_string=filter_string, max_results=max_results,
                              order_by=["attributes.start_time DESC"])


def _parent(name: str):
    runs = _search(f"tags.`qser.sweep` = '{name}' and tags.`qser.run_type` = 'sweep'", max_results=1)
    return runs[0] if runs else None


class _Reopened:
    """Writes to an existing parent run (same surface as the recorder methods the sweep uses)."""

    def __init__(self, run_id: str) -> None:
        from qser_core.tracking.recorder import _client, tracking_uri

        self.run_id, self._client = run_id, _client(tracking_uri())

    def log_json(self, name: str, obj: Any) -> None:
        from qser_core.tracking.recorder import _dumps

        self._client.log_text(self.run_id, _dumps(obj), name)

    def _end(self, status: str, reason: str = "") -> None:
        self._client.set_tag(self.run_id, "qser.status", status)
        self._client.set_tag(self.run_id, "qser.reason", reason[:5000])
        self._client.set_terminated(self.run_id, {"finished": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED"))


@contextmanager
def parent_run(name: str, base: QserConfig, grid: Mapping[str, Sequence[Any]]) -> Iterator[Any]:
    """The sweep's parent run: created on the first run of ``name``, reopened on every later one.

    Yields an object with ``run_id`` and ``log_json(name, obj)``. On leaving, the run is marked
    ``finished``, or ``interrupted`` (Ctrl-C, cancel) or ``failed`` with the reason, as for any run.
    """
    from qser_core.tracking.recorder import track_run

    existing = _parent(name)
    if existing is None:
        with track_run(base, run_type="sweep", tags={"qser.sweep": name}) as recorder:
            recorder.log_json("grid.json", {k: [str(v) for v in vals] for k, vals in grid.items()})
            yield recorder
        return
    # TODO(merge): reliability's reopen_run(run_id) replaces _Reopened once it lands
    parent = _Reopened(existing.info.run_id)
    parent._client.update_run(parent.run_id, status="RUNNING")
    parent._client.set_tag(parent.run_id, "qser.status", "running")
    try:
        yield parent
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, TrainingCancelled))
        parent._end("interrupted" if interrupted else "failed", f"{type(exc).__name__}: {exc}")
        raise
    parent._end("finished")


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
    from qser_core.experiments.crossval import _record
    from qser_core.tracking.recorder import track_run

    # TODO(merge): track_run(..., parent_run_id=parent.run_id) once reliability's recorder lands
    tags = {"qser.sweep": name, "mlflow.parentRunId": parent.run_id}
    with track_run(config, run_type="evaluate", tags=tags) as recorder:
        evaluation.run_id = recorder.run_id
        _record(recorder, evaluation)
    return recorder.run_id


def load_summary(name: str) -> dict[str, Any]:
    """The ``sweep.json`` of sweep ``name``'s parent run."""
    from qser_core.tracking.reader import load_json

    check_name(name)
    parent = _parent(name)
    record = load_json(parent.info.run_id, "sweep.json") if parent is not None else None
    if record is None:
        raise DataError(f"no sweep named {name!r} in the run store; list sweeps with `qser sweep list`")
    # a sweep killed hard (no time to write its end) still says "running": say what the store says
    record["status"] = parent.data.tags.get("qser.status", record.get("status", ""))
    return record


def list_parents() -> pd.DataFrame:
    """Recorded sweeps, newest first: ``name``, ``run_id``, ``status``, ``start_time``."""
    runs = _search("tags.`qser.run_type` = 'sweep'")
    rows = [{"name": r.data.tags.get("qser.sweep", ""), "run_id": r.info.run_id,
             "status": r.data.tags.get("qser.status", ""),
             "start_time": pd.Timestamp(r.info.start_time, unit="ms", tz="UTC")} for r in runs]
    return pd.DataFrame(rows, columns=["name", "run_id", "status", "start_time"])

"""Reading recorded runs back: list, load and delete the runs :mod:`qser_core.tracking.recorder` writes.

``qser runs`` lists them; the dashboard's "Compare runs" page reads them. The store and the
experiment are the ones :func:`~qser_core.tracking.store.tracking_uri` and
:func:`~qser_core.tracking.store.experiment_name` name. Every function taking a run id also takes a
unique prefix of one (:func:`resolve_run_id`), as the dashboard and ``qser runs`` show 8 characters.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError
from qser_core.tracking import store as _store

__all__ = [
    "RUN_COLUMNS",
    "COMPLETED",
    "list_runs",
    "load_run",
    "load_json",
    "download_artifacts",
    "stored_config",
    "resolve_run_id",
    "delete_run",
    "comparable",
    "sweep_grid",
]

#: Columns of :func:`list_runs`, in order.
RUN_COLUMNS = (
    "run_id", "run_name", "start_time", "duration_s", "status", "qser_status", "run_type", "dataset",
    "synthetic", "backbone", "head", "n_qubits", "encoding", "ansatz", "n_layers", "seeds", "ua", "ua_ci95_low",
    "ua_ci95_high", "wa", "macro_f1", "params", "epochs_run", "best_epoch", "config_digest", "parent_run_id",
    "reason",
)
#: ``qser_status`` of runs that ended normally with results worth comparing (not stopped, failed or interrupted).
COMPLETED = ("finished", "early-stopped")
#: ``qser_status`` of a run left RUNNING by a process that no longer exists (killed, crashed, machine rebooted).
GONE = "gone"
_MIN_PREFIX = 4


def list_runs(*, experiment: str | None = None, filter_string: str = "", max_results: int = 1000) -> pd.DataFrame:
    """One row per recorded run, newest first, with the columns in :data:`RUN_COLUMNS`.

    Parameters
    ----------
    experiment : str, optional
        Experiment name; default :func:`~qser_core.tracking.store.experiment_name`.
    filter_string : str, default=""
        MLflow search filter, e.g. ``"tags.`qser.dataset` = 'demo'"`` or
        ``"params.`head.kind` = 'quantum' and metrics.ua > 0.3"``.
    max_results : int, default=1000
        At most this many runs (1-50000).

    Returns
    -------
    pandas.DataFrame
        ``start_time`` is a UTC timestamp, ``duration_s`` seconds (NaN while running); metrics a
        run lacks (interrupted, failed, or a head without them) are NaN. ``encoding``, ``ansatz``
        and ``n_layers`` are empty for classical heads. A run still RUNNING whose process (on this
        machine) is gone has ``qser_status`` :data:`GONE` and a reason saying so.
    """
    if not 1 <= max_results <= 50000:
        raise ConfigError(f"max_results must be between 1 and 50000; got {max_results!r}")
    client = _store.client()
    experiment_id = _store.experiment_id(client, experiment or _store.experiment_name(), create=False)
    if experiment_id is None:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    from mlflow.exceptions import MlflowException

    try:
        runs = client.search_runs([experiment_id], filter_string=filter_string, max_results=max_results,
                                  order_by=["attributes.start_time DESC"])
    except MlflowException as exc:
        raise ConfigError(f"cannot search runs with filter {filter_string!r}: {exc.message}. Write filters like "
                          "\"params.`head.kind` = 'quantum'\" or \"metrics.ua > 0.3\"") from exc
    frame = pd.DataFrame([_run_row(run) for run in runs], columns=list(RUN_COLUMNS))
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    for column in ("n_qubits", "n_layers"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame


def process_gone(tags: Mapping[str, str]) -> bool:
    """True when the run's recording process ran on this machine and no longer exists."""
    if tags.get("qser.host") != socket.gethostname() or not tags.get("qser.pid", "").isdigit():
        return False
    pid = int(tags["qser.pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    started = tags.get("qser.pid_start", "")
    return bool(started) and _store.process_start(pid) != started  # the pid was reused by another process


def _status(info, tags: Mapping[str, str]) -> tuple[str, str]:
    """``qser_status`` and ``reason``, with :data:`GONE` for a RUNNING run whose process died."""
    status, reason = tags.get("qser.status", ""), tags.get("qser.reason", "")
    if info.status == "RUNNING" and process_gone(tags):
        return GONE, reason or (f"process {tags['qser.pid']} on {tags['qser.host']} ended without closing the run "
                                "(killed or crashed); its final metrics were never written")
    return status, reason


def _run_row(run) -> dict[str, Any]:
    info, params, metrics, tags = run.info, run.data.params, run.data.metrics, run.data.tags
    quantum = params.get("head.kind") == "quantum"
    end = info.end_time if info.status != "RUNNING" else None
    qser_status, reason = _status(info, tags)
    return {
        "run_id": info.run_id, "run_name": info.run_name, "start_time": info.start_time,
        "duration_s": (end - info.start_time) / 1000 if end else np.nan, "status": info.status,
        "qser_status": qser_status, "run_type": tags.get("qser.run_type", ""),
        "dataset": params.get("data.dataset", ""), "synthetic": tags.get("qser.synthetic", "") == "true",
        "backbone": params.get("embedding.backbone", ""),
        "head": params.get("head.kind", ""), "n_qubits": params.get("reduce.n_qubits"),
        "encoding": params.get("head.encoding") if quantum else None,
        "ansatz": params.get("head.ansatz") if quantum else None,
        "n_layers": params.get("head.n_layers") if quantum else None,
        "seeds": ",".join(str(s) for s in json.loads(params.get("train.seeds", "[]"))),
        **{k: metrics.get(k, np.nan) for k in ("ua", "ua_ci95_low", "ua_ci95_high", "wa", "macro_f1", "params",
                                               "epochs_run", "best_epoch")},
        "config_digest": tags.get("qser.config_digest", ""), "parent_run_id": tags.get("mlflow.parentRunId", ""),
        "reason": reason,
    }


def resolve_run_id(run_id: str) -> str:
    """The full id of the run that ``run_id`` names exactly or as a unique prefix (at least 4 characters).

    Raises
    ------
    DataError
        No run, or several runs, match.
    """
    run_id = str(run_id).strip()
    client = _store.client()
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id).info.run_id
    except MlflowException:
        pass
    if len(run_id) < _MIN_PREFIX or not run_id.isalnum():
        raise DataError(f"no run with id {run_id!r} in {client.uri}; give the full id or a unique prefix of at least "
                        f"{_MIN_PREFIX} characters (list the runs with `qser runs`)")
    ids = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(ids, filter_string=f"attributes.run_id LIKE '{run_id.lower()}%'", max_results=20)
    if len(found) == 1:
        return found[0].info.run_id
    if not found:
        raise DataError(f"no run with id {run_id!r} in {client.uri}; list the runs with `qser runs`")
    names = ", ".join(r.info.run_id[:12] for r in found[:5])
    raise DataError(f"run id prefix {run_id!r} matches {len(found)} runs ({names}{', ...' if len(found) > 5 else ''}); "
                    "give more characters")


def _get_run(client, run_id: str):
    return client.get_run(resolve_run_id(run_id))


def _read_artifact(client, run, name: str) -> str | None:
    """Text of one artefact of ``run`` (``None`` if it has none by that name)."""
    repo = _store.artifact_repo(client, run)
    parent = str(Path(name).parent) if Path(name).parent != Path(".") else None
    with _store.store_errors(client.uri, f"list the artefacts of run {run.info.run_id}"):
        if name not in {f.path for f in repo.list_artifacts(parent)}:
            return None
        with tempfile.TemporaryDirectory(prefix="qser-run-") as tmp:
            return Path(repo.download_artifacts(name, tmp)).read_text(encoding="utf-8")


def download_artifacts(run_id: str, name: str, dst: str | Path) -> Path:
    """Copy the artefact (file or folder) ``name`` of run ``run_id`` into ``dst``; its local path.

    Follows a moved ``QSER_HOME`` like every reader here. ``run_id`` may be a unique prefix.
    """
    client = _store.client()
    run = _get_run(client, run_id)
    with _store.store_errors(client.uri, f"download {name!r} of run {run.info.run_id}"):
        return Path(_store.artifact_repo(client, run).download_artifacts(name, str(dst)))


def load_json(run_id: str, name: str) -> Any:
    """A JSON artefact of a run (``None`` if the run has no such artefact).

    Raises
    ------
    DataError
        No such run, or the artefact is not valid JSON (damaged).
    """
    client = _store.client()
    run = _get_run(client, run_id)
    name = _store.artifact_name(name)
    text = _read_artifact(client, run, name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"the artefact {name} of run {run.info.run_id} is damaged ({exc}); rerun the experiment "
                        "or delete the run") from exc


def stored_config(run_id: str) -> QserConfig | None:
    """The config a run recorded in ``config.toml`` (the flattened params for runs older than that file).

    Returns ``None`` when neither fits the current config any more (a field was removed or renamed).
    """
    client = _store.client()
    run = _get_run(client, run_id)
    text = _read_artifact(client, run, "config.toml")
    try:
        if text is not None:
            return QserConfig.from_toml_text(text, source=f"config.toml of run {run.info.run_id}")
        return QserConfig().with_overrides([f"{k}={v}" for k, v in run.data.params.items() if "." in k])
    except ConfigError:
        return None


def load_run(run_id: str) -> dict[str, Any]:
    """Everything recorded for one run.

    Parameters
    ----------
    run_id : str
        Full id or unique prefix.

    Returns
    -------
    dict
        ``run_id, run_name, status, qser_status, reason, start_time, end_time, duration_s,
        artifact_uri, params, metrics`` (latest value of each: the final metrics and the last epoch's),
        ``tags, config`` (the :class:`QserConfig` read from the run's ``config.toml``, or ``None`` when it
        no longer fits the current config), ``history`` (DataFrame: ``prefix, epoch`` and one
        column per epoch metric), ``confusion`` (``{"labels", "matrix": ndarray}`` or ``None``),
        ``split``, ``predictions``, ``final`` (the stored JSON, or ``None``), ``artifacts`` (top-level
        names) and ``children`` (ids of runs recorded with this one as parent).

    Raises
    ------
    DataError
        No run matches ``run_id``, or one of its JSON artefacts is damaged.
    """
    client = _store.client()
    run = _get_run(client, run_id)
    info, tags = run.info, run.data.tags
    repo = _store.artifact_repo(client, run)
    with _store.store_errors(client.uri, f"list the artefacts of run {info.run_id}"):
        names = {Path(f.path).name for f in repo.list_artifacts()}
    stored = {key: load_json(info.run_id, f"{key}.json") if f"{key}.json" in names else None
              for key in ("confusion", "split", "predictions", "final")}
    if stored["confusion"] is not None:
        stored["confusion"]["matrix"] = np.asarray(stored["confusion"]["matrix"])
    end = info.end_time if info.status != "RUNNING" else None
    qser_status, reason = _status(info, tags)
    return {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "qser_status": qser_status, "reason": reason,
        "start_time": pd.Timestamp(info.start_time, unit="ms", tz="UTC"),
        "end_time": pd.Timestamp(end, unit="ms", tz="UTC") if end else None,
        "duration_s": (end - info.start_time) / 1000 if end else None,
        "artifact_uri": _store.local_artifact_uri(client.uri, info.artifact_uri, info.run_id),
        "params": dict(run.data.params), "metrics": dict(run.data.metrics), "tags": dict(tags),
        "config": stored_config(info.run_id), "history": _history(client, run),
        **stored, "artifacts": sorted(names), "children": _children(client, run),
    }


def _children(client, run) -> list[str]:
    found = client.search_runs([run.info.experiment_id],
                               filter_string=f"tags.`mlflow.parentRunId` = '{run.info.run_id}'", max_results=1000)
    return [r.info.run_id for r in found]


def _history(client, run) -> pd.DataFrame:
    """Per-epoch metrics as one row per (prefix, epoch), via ``get_metric_history``."""
    prefixes = json.loads(run.data.tags.get("qser.epoch_prefixes", "[]"))
    fields = json.loads(run.data.tags.get("qser.epoch_fields", "[]"))
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for prefix in prefixes:
        for field in fields:
            for m in client.get_metric_history(run.info.run_id, f"{prefix}{field}"):
                rows.setdefault((prefix, m.step), {"prefix": prefix, "epoch": m.step})[field] = m.value
    frame = pd.DataFrame(list(rows.values()), columns=["prefix", "epoch", *fields])
    return frame.sort_values(["prefix", "epoch"], kind="stable").reset_index(drop=True)


def delete_run(run_id: str) -> None:
    """Delete a run (MLflow marks it deleted; :func:`list_runs` no longer shows it)."""
    client = _store.client()
    client.delete_run(_get_run(client, run_id).info.run_id)


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`list_runs` worth setting side by side: ended normally and scored (a UA).

    Left out: runs stopped by the user (partial), failed, interrupted, gone or still running, and runs
    without test metrics of their own (a sweep's parent, whose results are its child runs; a hardware
    noise curve, whose scores are per point).
    """
    return runs[runs["qser_status"].isin(COMPLETED) & runs["ua"].notna()]


def sweep_grid(run_id: str) -> str:
    """A sweep parent run's grid in one line, ``"train.lr: 0.01 | 0.05; head.n_layers: 1 | 2"`` ("" without one)."""
    grid = load_json(run_id, "grid.json") or {}
    return "; ".join(f"{name}: {' | '.join(map(str, values))}" for name, values in grid.items())

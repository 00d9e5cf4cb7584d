"""Reading recorded runs back: list, load and delete the MLflow runs :mod:`qser_core.tracking.recorder` writes.

``qser runs`` lists them; the dashboard's "Compare runs" page reads them. The store and the
experiment are the ones :func:`~qser_core.tracking.recorder.tracking_uri` and
:func:`~qser_core.tracking.recorder.experiment_name` name.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError
from qser_core.tracking.recorder import _artifact_name, _client, experiment_name, tracking_uri

__all__ = [
    "RUN_COLUMNS",
    "list_runs",
    "load_run",
    "load_json",
    "delete_run",
]

#: Columns of :func:`list_runs`, in order.
RUN_COLUMNS = (
    "run_id", "run_name", "start_time", "duration_s", "status", "qser_status", "run_type", "dataset",
    "backbone", "head", "n_qubits", "encoding", "ansatz", "n_layers", "seeds", "ua", "ua_ci95_low",
    "ua_ci95_high", "wa", "macro_f1", "params", "config_digest", "reason",
)


def list_runs(*, experiment: str | None = None, filter_string: str = "", max_results: int = 1000) -> pd.DataFrame:
    """One row per recorded run, newest first, with the columns in :data:`RUN_COLUMNS`.

    Parameters
    ----------
    experiment : str, optional
        Experiment name; default :func:`experiment_name`.
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
        and ``n_layers`` are empty for classical heads.
    """
    if not 1 <= max_results <= 50000:
        raise ConfigError(f"max_results must be between 1 and 50000; got {max_results!r}")
    uri = tracking_uri()
    client = _client(uri)
    found = client.get_experiment_by_name(experiment or experiment_name())
    if found is None:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    from mlflow.exceptions import MlflowException

    try:
        runs = client.search_runs([found.experiment_id], filter_string=filter_string, max_results=max_results,
                                  order_by=["attributes.start_time DESC"])
    except MlflowException as exc:
        raise ConfigError(f"cannot search runs with filter {filter_string!r}: {exc.message}. Write filters like "
                          "\"params.`head.kind` = 'quantum'\" or \"metrics.ua > 0.3\"") from exc
    frame = pd.DataFrame([_run_row(run) for run in runs], columns=list(RUN_COLUMNS))
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms", utc=True)
    for column in ("n_qubits", "n_layers"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame


def _run_row(run) -> dict[str, Any]:
    info, params, metrics, tags = run.info, run.data.params, run.data.metrics, run.data.tags
    quantum = params.get("head.kind") == "quantum"
    end = info.end_time if info.status != "RUNNING" else None
    return {
        "run_id": info.run_id, "run_name": info.run_name, "start_time": info.start_time,
        "duration_s": (end - info.start_time) / 1000 if end else np.nan, "status": info.status,
        "qser_status": tags.get("qser.status", ""), "run_type": tags.get("qser.run_type", ""),
        "dataset": params.get("data.dataset", ""), "backbone": params.get("embedding.backbone", ""),
        "head": params.get("head.kind", ""), "n_qubits": params.get("reduce.n_qubits"),
        "encoding": params.get("head.encoding") if quantum else None,
        "ansatz": params.get("head.ansatz") if quantum else None,
        "n_layers": params.get("head.n_layers") if quantum else None,
        "seeds": ",".join(str(s) for s in json.loads(params.get("train.seeds", "[]"))),
        **{k: metrics.get(k, np.nan) for k in ("ua", "ua_ci95_low", "ua_ci95_high", "wa", "macro_f1", "params")},
        "config_digest": tags.get("qser.config_digest", ""), "reason": tags.get("qser.reason", ""),
    }


def _get_run(client, run_id: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        raise DataError(f"no run with id {run_id!r} in {tracking_uri()}; list the runs with `qser runs`") from exc


def load_json(run_id: str, name: str) -> Any:
    """A JSON artefact of a run (``None`` if the run has no such artefact)."""
    client = _client(tracking_uri())
    _get_run(client, run_id)
    name = _artifact_name(name)
    parent = str(Path(name).parent) if Path(name).parent != Path(".") else None
    if name not in {f.path for f in client.list_artifacts(run_id, parent)}:
        return None
    with tempfile.TemporaryDirectory(prefix="qser-run-") as tmp:
        return json.loads(Path(client.download_artifacts(run_id, name, tmp)).read_text(encoding="utf-8"))


def load_run(run_id: str) -> dict[str, Any]:
    """Everything recorded for one run.

    Returns
    -------
    dict
        ``run_id, run_name, status, qser_status, reason, start_time, end_time, duration_s,
        artifact_uri, params, metrics`` (latest value of each: the final metrics and the last epoch's),
        ``tags, config`` (a :class:`QserConfig`, or ``None`` when the
        params no longer fit the current config), ``history`` (DataFrame: ``prefix, epoch`` and one
        column per epoch metric), ``confusion`` (``{"labels", "matrix": ndarray}`` or ``None``),
        ``split``, ``predictions``, ``final`` (the stored JSON, or ``None``) and ``artifacts`` (top-level names).

    Raises
    ------
    DataError
        No run with that id in the store.
    """
    client = _client(tracking_uri())
    run = _get_run(client, run_id)
    info, tags = run.info, run.data.tags
    names = {Path(f.path).name for f in client.list_artifacts(run_id)}
    stored = {key: load_json(run_id, f"{key}.json") if f"{key}.json" in names else None
              for key in ("confusion", "split", "predictions", "final")}
    if stored["confusion"] is not None:
        stored["confusion"]["matrix"] = np.asarray(stored["confusion"]["matrix"])
    end = info.end_time if info.status != "RUNNING" else None
    return {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "qser_status": tags.get("qser.status", ""), "reason": tags.get("qser.reason", ""),
        "start_time": pd.Timestamp(info.start_time, unit="ms", tz="UTC"),
        "end_time": pd.Timestamp(end, unit="ms", tz="UTC") if end else None,
        "duration_s": (end - info.start_time) / 1000 if end else None, "artifact_uri": info.artifact_uri,
        "params": dict(run.data.params), "metrics": dict(run.data.metrics), "tags": dict(tags),
        "config": _config_from_params(run.data.params), "history": _history(client, run),
        **stored, "artifacts": sorted(names),
    }


def _config_from_params(params: Mapping[str, str]) -> QserConfig | None:
    try:
        return QserConfig().with_overrides([f"{k}={v}" for k, v in params.items() if "." in k])
    except ConfigError:
        return None


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
    client = _client(tracking_uri())
    _get_run(client, run_id)
    client.delete_run(run_id)

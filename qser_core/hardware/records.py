"""Job records in the run store: written the moment a job is submitted, completed when it is fetched.

``qser hardware status`` lists them; ``qser hardware fetch JOB_ID`` completes one.

Each hardware or noisy run is an MLflow run of type ``hardware`` (:func:`qser_core.tracking.recorder.track_run`).
Its job records are JSON artefacts ``jobs/<job_id>.json`` holding everything needed to score the job
later without the model: job id, backend, the instance (CRN) it ran in, the ISA circuit (QPY,
base64), the parameter values, clip ids and labels, the model's path and run, shots, mitigation, the
QPU-time estimate and the ``max_execution_time`` IBM enforces, the exact ⟨Z⟩ of the ideal target and
the head's readout. A short summary of each job (model, shots, λ, time) is also a run tag, so the
job list is read without opening the records. The run's tag ``qser.job_ids`` lists its jobs, so a job is
found by id from any process. Results go to ``results/<job_id>.json`` and the run's metrics; writing
them again leaves the same values (fetching is idempotent).

Writing into a finished run goes through :func:`qser_core.tracking.recorder.reopen_run`.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from qser_core.errors import DataError

__all__ = ["job_record", "job_instance", "add_job", "find_job", "list_jobs", "write_result", "load_isa"]

_JOB_ID = re.compile(r"^[A-Za-z0-9_\-]{4,80}$")
JOB_TAG = "qser.job_ids"
STATUS_TAG = "qser.hardware_status"
INFO_TAG = "qser.job_info."  # + job id: JSON summary of the job


def dump_isa(circuit) -> str:
    """The ISA circuit as base64 QPY (Qiskit's own lossless format, parameters kept)."""
    from qiskit import qpy

    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def load_isa(text: str):
    """Inverse of :func:`dump_isa` (QPY holds circuits only: no code runs on load)."""
    from qiskit import qpy

    return qpy.load(io.BytesIO(base64.b64decode(text)))[0]


def job_instance(job) -> str | None:
    """The instance CRN a runtime job ran in (None for local jobs)."""
    try:
        return getattr(job, "instance", None) or None
    except Exception:  # noqa: BLE001 - local jobs have no backend instance
        return None


def job_record(run, execution, *, noise_scale: float | None, extra: dict | None = None) -> dict[str, Any]:
    """Everything needed to score a job later (see the module docstring).

    Parameters
    ----------
    run : qser_core.hardware.evaluation.DeviceRun
    execution : qser_core.hardware.execute.Execution
    noise_scale : float or None
        λ of an offline run; None on hardware.
    extra : dict, optional
        More fields (a curve point's shots, say).
    """
    return {
        "job_id": execution.job_id, "backend": run.backend, "local": execution.local,
        "instance": None if execution.local else job_instance(execution.job),
        "max_execution_time_s": execution.max_execution_time, "measured_qubits": execution.measured_qubits,
        "target": "noisy" if execution.local else "hardware", "primitive": execution.primitive,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "shots": execution.shots,
        "noise_scale": noise_scale, "mitigation": execution.mitigation, "estimate": run.estimate,
        "model": run.model_info, "transpiled": run.isa.stats, "isa_qpy": dump_isa(run.isa.circuit),
        "layout": execution.layout, "parameter_values": np.asarray(run.angles).tolist(),
        "clips": run.test.clips, "y_true": run.test.y_true.tolist(),
        "train_clips": run.train.clips if run.train is not None else [],
        "train_y_true": run.train.y_true.tolist() if run.train is not None else [],
        "ideal_expvals": np.asarray(run.ideal).tolist(),
        "readout": {"weight": np.asarray(run.readout[0]).tolist(), "bias": np.asarray(run.readout[1]).tolist()},
        "seed": run.seed, **(extra or {}),
    }


def _client():
    """The run store's guarded MLflow client (store faults become one :class:`BackendError`)."""
    from qser_core.tracking.store import client

    return client()


def add_job(recorder, record: dict[str, Any], job_ids: list[str]) -> None:
    """Write a job record into the open run; ``job_ids`` (the run's jobs so far) gains its id.

    The record is written before the tag that points to it, so a listed job always has a record.
    """
    recorder.log_json(f"jobs/{record['job_id']}.json", record)
    job_ids.append(record["job_id"])
    model = record.get("model") or {}
    info = {"submitted": record["submitted"], "shots": record["shots"], "noise_scale": record["noise_scale"],
            "primitive": record["primitive"], "instance": record.get("instance"),
            "model": f"{model.get('n_qubits')}q{model.get('n_layers')}l {model.get('ansatz')} "
                     f"({(model.get('run_id') or '')[:8] or Path(model.get('path') or '?').name})"}
    recorder.set_tag(INFO_TAG + record["job_id"], json.dumps(info))
    recorder.set_tag(JOB_TAG, ",".join(job_ids))
    recorder.set_tag(STATUS_TAG, "submitted")


def _check_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise DataError(f"job id must be 4-80 letters, digits, '-' or '_'; got {job_id!r}. "
                        "List jobs with `qser hardware status`")
    return job_id


def _runs_with_jobs(filter_extra: str = ""):
    from qser_core.tracking.store import experiment_name

    client = _client()
    experiment = client.get_experiment_by_name(experiment_name())
    if experiment is None:
        return []
    query = f"tags.`{JOB_TAG}` != ''" + (f" and {filter_extra}" if filter_extra else "")
    return client.search_runs([experiment.experiment_id], filter_string=query, max_results=1000,
                              order_by=["attributes.start_time DESC"])


def find_job(job_id: str) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """The run holding a job, its record and its stored result (``None`` until fetched).

    Raises
    ------
    DataError
        No run records that job.
    """
    from qser_core.tracking.reader import load_json

    _check_id(job_id)
    for run in _runs_with_jobs(f"tags.`{JOB_TAG}` LIKE '%{job_id}%'"):
        if job_id in run.data.tags.get(JOB_TAG, "").split(","):
            record = load_json(run.info.run_id, f"jobs/{job_id}.json")
            if record is None:
                raise DataError(f"run {run.info.run_id} lists job {job_id} but its record is missing; "
                                "the run store may be damaged")
            return run.info.run_id, record, load_json(run.info.run_id, f"results/{job_id}.json")
    raise DataError(f"no recorded job with id {job_id!r}; list jobs with `qser hardware status`")


def list_jobs() -> list[dict[str, Any]]:
    """One row per recorded job, newest run first.

    Returns
    -------
    list of dict
        ``submitted`` (UTC date and time), ``job_id``, ``model``, ``backend``, ``target``, ``shots``,
        ``noise_scale``, ``status``, ``reason``, ``instance``, ``run_id``.
    """
    rows = []
    for run in _runs_with_jobs():
        tags = run.data.tags
        statuses = json.loads(tags.get("qser.job_status", "{}") or "{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(run.info.start_time) / 1000))
        for job_id in filter(None, tags.get(JOB_TAG, "").split(",")):
            info = json.loads(tags.get(INFO_TAG + job_id, "{}") or "{}")
            submitted = info.get("submitted", "").replace("T", " ").replace("Z", " UTC") or started
            rows.append({"submitted": submitted, "job_id": job_id, "model": info.get("model", ""),
                         "backend": tags.get("qser.backend", ""), "target": tags.get("qser.target", ""),
                         "shots": info.get("shots"), "noise_scale": info.get("noise_scale"),
                         "status": statuses.get(job_id, "submitted"),
                         "reason": tags.get(f"qser.job_reason.{job_id}", ""), "instance": info.get("instance"),
                         "run_id": run.info.run_id})
    return rows


def set_job_status(run_id: str, job_id: str, status: str, reason: str = "") -> None:
    """Record a job's status (``DONE``, ``ERROR``, ``CANCELLED``, …) and IBM's reason in its run."""
    from qser_core.tracking.recorder import reopen_run

    with reopen_run(run_id) as recorder:
        _set_status(recorder, job_id, status, reason)


def _set_status(recorder, job_id: str, status: str, reason: str = "") -> None:
    run = _client().get_run(recorder.run_id)
    statuses = json.loads(run.data.tags.get("qser.job_status", "{}") or "{}")
    statuses[job_id] = status
    recorder.set_tag("qser.job_status", json.dumps(statuses))
    if reason:
        recorder.set_tag(f"qser.job_reason.{job_id}", reason[:4000])
    recorder.set_tag(STATUS_TAG, status.lower())


def write_result(run_id: str, job_id: str, result: dict[str, Any], *, prefix: str = "") -> None:
    """Store a job's scored result and its metrics in the run (same values when written twice).

    Parameters
    ----------
    run_id, job_id : str
    result : dict
        :func:`qser_core.hardware.evaluation.score_run` output plus ``usage``.
    prefix : str, default=""
        Put before metric names (curve points: ``"noise_0.5/"``).

    Raises
    ------
    DataError
        The run is not in the run store.
    """
    from qser_core.tracking.recorder import reopen_run

    with reopen_run(run_id) as recorder:
        recorder.log_text(json.dumps(result, default=_plain, indent=1), f"results/{job_id}.json")
        recorder.log_final(_metrics(result, prefix))
        _set_status(recorder, job_id, "DONE")


def _metrics(result: dict[str, Any], prefix: str) -> dict[str, float]:
    """The run metrics of a scored job (``ci95`` pairs become ``_low`` / ``_high`` in the store)."""
    metrics: dict[str, Any] = {}
    for target in ("ideal", "noisy", "hardware", "recalibrated"):
        scores = result.get(target)
        if not scores:
            continue
        metrics.update({f"{prefix}{target}.{key}": float(scores[key]) for key in ("ua", "wa", "macro_f1", "jobs")})
        metrics.update({f"{prefix}{target}.{key}": tuple(float(v) for v in scores[key])
                        for key in ("ua_ci95", "wa_ci95", "macro_f1_ci95")})
    device = result.get("device_target")
    if device and not prefix:  # the run's headline metrics are those of the device target
        metrics.update({k: float(result[device][k]) for k in ("ua", "wa", "macro_f1")})
    if agreement := result.get("agreement"):
        metrics.update({f"{prefix}agreement.{k}": float(agreement[k]) for k in ("agreement", "zcorr", "zmad")
                        if np.isfinite(agreement[k])})
    return metrics


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a job result")

"""Dispatch, record, fetch: the hardware stage end to end (what the CLI and the Hardware page call).

``qser hardware run|curve|status|fetch`` are thin wrappers of :func:`plan`, :func:`dispatch`,
:func:`noise_curve`, :func:`job_list` and :func:`fetch`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

import numpy as np

from qser_core.config import HardwareConfig
from qser_core.errors import BackendError, ConfigError
from qser_core.hardware import records
from qser_core.hardware.backends import budget, connect, get_backend, guarded, redact
from qser_core.hardware.estimate import budget_check
from qser_core.hardware.evaluation import ClipSet, DeviceRun, prepare_run, score_run
from qser_core.hardware.execute import Mitigation, expectations, job_status, local_target, submit, wait
from qser_core.hardware.noise import NOISE_SCALES, check_noise_scale
from qser_core.progress import RunContext

__all__ = ["plan", "dispatch", "noise_curve", "fetch", "job_list", "summary"]


def plan(model, hardware: HardwareConfig | None = None, *, fake: bool = True, service=None, seed: int = 0,
         features=None, model_path: str | None = None) -> tuple[DeviceRun, Any]:
    """Everything before dispatch: the device, the transpiled circuit with its stats, clips, QPU estimate
    and the budget it is checked against.

    Parameters
    ----------
    model : TrainedModel
    hardware : HardwareConfig, optional
        The device (``backend``; ``auto``: the account's least-busy operational device with enough
        qubits, offline ibm_fez), shots, primitive, mitigation, transpiler level, seeds tried and
        layout, clips, recalibration clips and λ. Default :class:`~qser_core.config.HardwareConfig`.
    fake : bool, default=True
        Simulate offline on the device's fake backend (noise × ``hardware.noise_scale``).
    service : QiskitRuntimeService, optional
        Logged-in account (needed when ``fake`` is False).
    seed, features, model_path
        Passed to :func:`qser_core.hardware.evaluation.prepare_run`.

    Returns
    -------
    run : DeviceRun
        ``run.hardware`` is ``hardware`` with the device chosen.
    device : qiskit.providers.BackendV2
    """
    hw = hardware or HardwareConfig()
    spec = getattr(model.head, "spec_", None)
    device = get_backend(hw.backend, fake=fake, service=service, min_qubits=spec.n_qubits if spec else 1)
    run = prepare_run(model, device, hw, local=fake, seed=seed, features=features, model_path=model_path)
    run.estimate.update(budget_check(run.estimate, budget(None if fake else service)))
    return run, device


def _config(model, run: DeviceRun):
    """The model's config with the run's hardware section: what the run store logs."""
    return dataclasses.replace(model.config, hardware=run.hardware or model.config.hardware)


def _tags(run: DeviceRun, kind: str) -> dict[str, str]:
    return {"qser.backend": run.backend, "qser.target": "noisy" if run.local else "hardware",
            "qser.hardware_kind": kind, "qser.model_run": run.model_info.get("run_id") or ""}


def check_budget(run: DeviceRun, *, confirmed: bool = False) -> None:
    """The budget rule of every dispatch (CLI and page): a hardware job over what is left needs ``confirmed``.

    Raises
    ------
    BackendError
        The estimate exceeds the QPU seconds left in the account's window and ``confirmed`` is False.
    """
    e = run.estimate
    if run.local or e.get("fits", True) or confirmed:
        return
    raise BackendError(f"the job needs about {e['quantum_seconds']:.0f} QPU seconds, more than the "
                       f"{e['remaining_s']:.0f} s left ({e['source']}); use fewer clips or shots, or confirm "
                       "explicitly (--yes) to send it anyway; IBM cancels it after "
                       f"{e['max_execution_time_s']} s")


def dispatch(model, run: DeviceRun, device, *, wait_result: bool = True, track: bool = True,
             confirmed: bool = False) -> dict[str, Any]:
    """Send the run's ONE job, record it at once, and (offline, or when asked) wait and score it.

    Parameters
    ----------
    model : TrainedModel
    run : DeviceRun
        From :func:`plan`.
    device : qiskit.providers.BackendV2
    wait_result : bool, default=True
        Wait for a hardware job (offline jobs always finish here). ``False`` returns once recorded;
        ``qser hardware fetch JOB_ID`` completes it later.
    track : bool, default=True
        Record in the run store.
    confirmed : bool, default=False
        Send a hardware job whose estimate exceeds what is left (:func:`check_budget`).

    Returns
    -------
    dict
        :func:`summary` of the scored run, or ``status="submitted"`` with the job id.

    Raises
    ------
    BackendError
        Over the budget without ``confirmed``; the job failed or was cancelled (its record keeps IBM's reason).
    """
    from qser_core.tracking.recorder import track_run

    check_budget(run, confirmed=confirmed)
    start, job_ids = time.perf_counter(), []
    with track_run(_config(model, run), run_type="hardware", tags=_tags(run, "run"), enabled=track) as recorder:
        target = local_target(run.isa, device, noise_scale=run.noise_scale, seed=run.seed) if run.local else device
        execution = submit(run.isa, run.angles, target=target, shots=run.shots, primitive=run.primitive,
                           mitigation=run.mitigation, seed=run.seed,
                           max_execution_time=None if run.local else run.estimate["max_execution_time_s"])
        if track:
            records.add_job(recorder, records.job_record(run, execution, noise_scale=run.noise_scale), job_ids)
        if not (run.local or wait_result):
            return {"status": "submitted", "job_id": execution.job_id, "run_id": recorder.run_id, "jobs": 1,
                    "backend": run.backend, "instance": records.job_instance(execution.job),
                    "max_execution_time_s": execution.max_execution_time, "estimate": run.estimate,
                    "transpiled": run.isa.stats}
        result = _finish(recorder.run_id if track else None, execution, run)
    result.update(run_id=recorder.run_id, seconds=time.perf_counter() - start)
    return summary(result)


def _finish(run_id: str | None, execution, run: DeviceRun) -> dict[str, Any]:
    """Wait for the job, score it, store the result (the job's status and reason on failure)."""
    try:
        result = wait(execution)
    except BackendError as exc:
        if run_id:
            status, reason = job_status(execution.job)
            records.set_job_status(run_id, execution.job_id, status, reason or str(exc))
        raise
    expvals = expectations(result, primitive=execution.primitive, layout=execution.layout,
                           mitigation=execution.mitigation)
    scored = score_run(run, expvals, jobs=1)
    scored.update(job_ids=[execution.job_id], jobs=1, backend=run.backend, shots=run.shots,
                  noise_scale=run.noise_scale, mitigation=execution.mitigation, estimate=run.estimate,
                  transpiled=run.isa.stats, usage=_usage(execution.job), primitive=execution.primitive,
                  measured_qubits=execution.measured_qubits, max_execution_time_s=execution.max_execution_time,
                  hardware_config=records.hardware_record(run, shots=run.shots, noise_scale=run.noise_scale))
    if run_id:
        records.write_result(run_id, execution.job_id, scored)
    return scored


def _usage(job) -> dict[str, Any]:
    """IBM's own QPU time: ``usage_estimation`` before, ``metrics()["usage"]`` after (absent offline)."""
    out: dict[str, Any] = {}
    for name, read in (("estimation", lambda: job.usage_estimation), ("metrics", lambda: job.metrics().get("usage"))):
        try:
            value = read()
        except Exception:  # noqa: BLE001 - local jobs have neither
            value = None
        if value:
            out[name] = value
    return out


def summary(result: dict[str, Any], *, per_clip: bool = False) -> dict[str, Any]:
    """The JSON-able headline of a scored run: each target's ``ua, wa, macro_f1``, intervals and ``jobs``."""
    drop = set() if per_clip else {"clips", "y_true", "expvals"}
    out = {k: v for k, v in result.items() if k not in drop}
    for target in ("ideal", "noisy", "hardware", "recalibrated"):
        if target in out and not per_clip:
            out[target] = {k: v for k, v in out[target].items() if k not in ("y_pred", "readout")}
    return out


def noise_curve(model, run: DeviceRun, device, *, noise_scales: Sequence[float] | None = None,
                shots: Sequence[int] | None = None, context: RunContext | None = None) -> dict[str, Any]:
    """Accuracy versus noise scale λ (at the run's shots) or versus shots (at the run's λ): one job per point.

    Parameters
    ----------
    model : TrainedModel
    run : DeviceRun
        From :func:`plan` with ``fake=True`` (transpiled once for all points).
    device : qiskit.providers.BackendV2
    noise_scales : sequence of float, optional
        λ values; default :data:`~qser_core.hardware.noise.NOISE_SCALES` unless ``shots`` is given.
    shots : sequence of int, optional
        Shot counts (64 … 8192).
    context : RunContext, optional
        Progress per point, ``track`` (record the curve's run and jobs, default True) and a cancel token,
        checked between points: a stopped curve raises :class:`~qser_core.errors.TrainingCancelled` and its
        recorded points stay in the run.

    Returns
    -------
    dict
        ``axis`` (``"noise_scale"`` or ``"shots"``), ``points`` (each with ``noise_scale``, ``shots``,
        ``ua``, ``wa``, ``macro_f1``, intervals, ``jobs=1``, ``job_id``), ``ideal`` and ``jobs`` (total).
    """
    from qser_core.tracking.recorder import track_run

    if not run.local:
        raise ConfigError("noise and shot curves run offline on fake backends; pass --fake")
    if noise_scales and shots:
        raise ConfigError("give either noise scales or shot counts for a curve, not both")
    axis = "shots" if shots else "noise_scale"
    values = [int(s) for s in shots] if shots else [check_noise_scale(float(x)) for x in (noise_scales or NOISE_SCALES)]
    context = RunContext.of(context)
    track = context.track
    points, job_ids = [], []
    with track_run(_config(model, run), run_type="hardware", tags=_tags(run, f"curve-{axis}"), enabled=track) as rec:
        for i, value in enumerate(values):
            context.report(i, len(values), f"{axis} = {value}")
            context.check_cancelled(f"the {axis} curve was stopped after {i} of {len(values)} points"
                                    + ("; its recorded run keeps them" if track and i else ""))
            point = dataclasses.replace(run, **({"shots": value} if axis == "shots" else {"noise_scale": value}))
            target = local_target(point.isa, device, noise_scale=point.noise_scale, seed=point.seed)
            execution = submit(point.isa, point.angles, target=target, shots=point.shots, primitive=point.primitive,
                               mitigation=point.mitigation, seed=point.seed)
            if track:
                records.add_job(rec, records.job_record(point, execution, noise_scale=point.noise_scale,
                                                    extra={"curve": axis}), job_ids)
            scored = score_run(point, expectations(wait(execution), primitive=execution.primitive,
                                                   layout=execution.layout, mitigation=execution.mitigation),
                               jobs=1)
            if track:
                records.write_result(rec.run_id, execution.job_id, scored, prefix=f"{axis}_{value}/")
            points.append({"noise_scale": point.noise_scale, "shots": point.shots, "job_id": execution.job_id,
                           **summary(scored)["noisy"],
                           **({"recalibrated_ua": scored["recalibrated"]["ua"]} if "recalibrated" in scored else {})})
        context.report(len(values), len(values), "done")
    ideal = summary(scored)["ideal"]
    return {"axis": axis, "points": points, "ideal": ideal, "jobs": len(points), "run_id": rec.run_id,
            "backend": run.backend, "transpiled": run.isa.stats}


def _run_from_record(record: dict[str, Any]) -> DeviceRun:
    n_test = len(record["clips"])
    angles = np.asarray(record["parameter_values"], dtype=float)
    train = None
    if record.get("train_clips"):
        train = ClipSet(clips=record["train_clips"], y_true=np.asarray(record["train_y_true"]), angles=angles[n_test:])
    return DeviceRun(model_info=record["model"], backend=record["backend"], local=record["local"], isa=None,
                     test=ClipSet(clips=record["clips"], y_true=np.asarray(record["y_true"]), angles=angles[:n_test]),
                     train=train, readout=(np.asarray(record["readout"]["weight"]), np.asarray(record["readout"]["bias"])),
                     ideal=np.asarray(record["ideal_expvals"]), shots=record["shots"], noise_scale=record["noise_scale"],
                     mitigation=Mitigation(**{k: record["mitigation"][k] for k in ("resilience_level",
                                                                                   "dynamical_decoupling", "readout")}),
                     primitive=record["primitive"], estimate=record["estimate"], seed=record.get("seed", 0),
                     hardware=_hardware_of(record))


def _hardware_of(record: dict[str, Any]) -> HardwareConfig | None:
    """The recorded hardware config (None for jobs recorded before it was stored)."""
    values = record.get("hardware_config")
    if values is None:
        return None
    known = {f.name for f in dataclasses.fields(HardwareConfig)}
    return HardwareConfig(**{k: tuple(v) if k == "layout" else v for k, v in values.items() if k in known})


def fetch(job_id: str, *, service=None, instance: str | None = None) -> dict[str, Any]:
    """Retrieve a recorded job's result into its run (idempotent: a fetched job is read back, not refetched).

    Parameters
    ----------
    job_id : str
    service : QiskitRuntimeService, optional
        Needed for a hardware job not fetched yet; else one is logged in
        (:func:`qser_core.hardware.backends.connect`) with the job's recorded instance.
    instance : str, optional
        Instance CRN to log in with instead of the recorded one.

    Returns
    -------
    dict
        :func:`summary` of the scored job, with ``run_id`` and ``fetched`` (False when it was stored already).

    Raises
    ------
    DataError
        No such job in the run store.
    BackendError
        The job failed or was cancelled (IBM's reason is in the message and the record), is still
        queued, or was a local simulation whose process ended before it finished.
    """
    run_id, record, stored = records.find_job(job_id)
    if stored is not None:
        return summary({**stored, "run_id": run_id, "fetched": False})
    if record["local"]:
        raise BackendError(f"job {job_id} was a local simulation that did not finish in the process that ran it; "
                           "local jobs live only in that process. Run it again with `qser hardware run --fake`")
    if service is None:
        service = connect(instance=instance or record.get("instance"))
    job = guarded(service, lambda: service.job(job_id), f"retrieve job {job_id} for this account")
    status, reason = _status(service, job)
    if status in ("ERROR", "CANCELLED"):
        records.set_job_status(run_id, job_id, status, reason)
        raise BackendError(f"job {job_id} ended {status}: {reason}")
    if status != "DONE":
        records.set_job_status(run_id, job_id, status)
        raise BackendError(f"job {job_id} is {status}; fetch it again when it is done")
    run = _run_from_record(record)
    expvals = expectations(guarded(service, job.result, f"read the result of job {job_id}"),
                           primitive=record["primitive"], layout=record["layout"], mitigation=record["mitigation"])
    scored = score_run(run, expvals, jobs=1)
    scored.update(job_ids=[job_id], jobs=1, backend=record["backend"], shots=record["shots"],
                  noise_scale=record["noise_scale"], mitigation=record["mitigation"], estimate=record["estimate"],
                  transpiled=record["transpiled"], usage=_usage(job), primitive=record["primitive"],
                  hardware_config=record.get("hardware_config"))
    records.write_result(run_id, job_id, scored)
    return summary({**scored, "run_id": run_id, "fetched": True})


def _status(service, job) -> tuple[str, str]:
    """:func:`job_status` with IBM's reason scrubbed of the key."""
    status, reason = job_status(job)
    return status, redact(reason, getattr(getattr(service, "_account", None), "token", None))


def job_list(*, refresh: bool = False, service=None, instance: str | None = None) -> list[dict[str, Any]]:
    """Recorded jobs, newest first; with ``refresh`` unfinished hardware jobs are polled (and their status stored).

    Parameters
    ----------
    refresh : bool, default=False
    service : QiskitRuntimeService, optional
        Logged-in account (the page's typed key); else one is logged in with ``instance`` or the
        first unfinished job's recorded instance.
    instance : str, optional
        Instance CRN.
    """
    rows = records.list_jobs()
    if not refresh:
        return rows
    for row in rows:
        if row["status"] in ("DONE", "ERROR", "CANCELLED") or row["target"] != "hardware":
            continue
        if service is None:
            service = connect(instance=instance or row.get("instance") or None)
        job = guarded(service, lambda: service.job(row["job_id"]), f"retrieve job {row['job_id']}")
        status, reason = _status(service, job)
        records.set_job_status(row["run_id"], row["job_id"], status, reason)
        row.update(status=status, reason=reason)
    return rows

"""QPU-time estimate of one job, against the Open Plan's 10 minutes per 28 days.

``qser hardware run --model DIR --backend ibm_fez`` prints it before asking IBM for anything; the
Hardware page shows it in the Dispatch confirmation.

    quantum seconds ≈ shots × parameter sets × (circuit duration + repetition delay) × ZNE factor
                      + per-job overhead

The circuit duration is the transpiled circuit's scheduled length from the target's gate durations
(``QuantumCircuit.estimate_duration``); the repetition delay is the backend's ``default_rep_delay``
(250 µs on IBM Eagle and Heron devices when the backend does not say). IBM's own figure arrives
with the job (``job.usage_estimation``, then ``job.metrics()["usage"]``) and is recorded beside this one.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["OPEN_PLAN_SECONDS", "JOB_OVERHEAD_S", "DEFAULT_REP_DELAY_S", "estimate_qpu_time"]

#: Open Plan allowance: 10 minutes of QPU time per rolling 28 days.
OPEN_PLAN_SECONDS = 600.0
#: Fixed QPU time per job (loading, readout setup), an assumption: IBM reports a few seconds for tiny jobs.
JOB_OVERHEAD_S = 2.0
#: Repetition delay between shots when the backend reports none.
DEFAULT_REP_DELAY_S = 250e-6
#: Extra executions of each circuit at resilience level 2 (ZNE at noise factors 1, 3, 5).
ZNE_FACTOR = 3.0


def _rep_delay(backend) -> float:
    for source in (backend, getattr(backend, "configuration", lambda: None)()):
        value = getattr(source, "default_rep_delay", None)
        if value:
            return float(value) * (1e-6 if value > 1e-2 else 1.0)  # configurations state µs
    return DEFAULT_REP_DELAY_S


def estimate_qpu_time(isa, backend, *, n_rows: int, shots: int, resilience_level: int = 0,
                      calibration_shots: int = 0) -> dict[str, Any]:
    """Estimated QPU seconds of one job and its share of the Open Plan allowance.

    Parameters
    ----------
    isa : IsaCircuit
        Transpiled circuit (its ``stats["duration_s"]``).
    backend : qiskit.providers.BackendV2
    n_rows : int
        Parameter sets in the job (clips).
    shots : int
    resilience_level : int, default=0
        Level 2 multiplies the executions by :data:`ZNE_FACTOR`.
    calibration_shots : int, default=0
        Shots of readout calibration circuits sent in the same job (mthree: near-empty circuits, so
        each shot costs about one repetition delay).

    Returns
    -------
    dict
        ``quantum_seconds``, ``circuit_s``, ``rep_delay_s``, ``overhead_s``, ``executions``,
        ``open_plan_fraction`` (of 600 s), ``fits_open_plan`` and ``formula``.
    """
    duration = float(isa.stats.get("duration_s", float("nan")))
    duration = 0.0 if math.isnan(duration) else duration
    rep = _rep_delay(backend)
    factor = ZNE_FACTOR if resilience_level >= 2 else 1.0
    executions = int(n_rows) * int(shots)
    calibration = calibration_shots * rep
    seconds = executions * (duration + rep) * factor + JOB_OVERHEAD_S + calibration
    return {
        "quantum_seconds": seconds,
        "circuit_s": duration,
        "rep_delay_s": rep,
        "overhead_s": JOB_OVERHEAD_S,
        "executions": executions,
        "calibration_s": calibration,
        "open_plan_fraction": seconds / OPEN_PLAN_SECONDS,
        "fits_open_plan": seconds <= OPEN_PLAN_SECONDS,
        "formula": "shots × parameter sets × (circuit duration + repetition delay) × ZNE factor + per-job overhead"
                   + (" + readout calibration circuits (same job)" if calibration_shots else ""),
    }

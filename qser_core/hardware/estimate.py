"""QPU-time estimate of one job, its limit, and the budget it is checked against.

``qser hardware run --model DIR --backend ibm_fez`` prints it before asking IBM for anything; the
Hardware page shows it beside Dispatch.

Two estimates are made and the larger one is used, so it never comes out below IBM's own rule of thumb:

- IBM's quick formula (guide "Workload usage"): 2 s + 0.35 ms per execution (circuits × shots);
- per execution: reset and initialisation (the backend's repetition delay, 250 µs when it does
  not say) + the circuit's scheduled duration + the measurement of its qubits, times the ZNE factor
  at resilience level 2, + 2 s per job; readout calibration circuits of the same job count as executions.

The job's ``max_execution_time`` (:func:`execution_limit`) is 1.5 × the estimate, capped by the QPU
seconds left in the account's window: IBM cancels a job that runs past it, so a misestimate cannot eat
the month. IBM's own figure arrives with the job (``job.usage_estimation``, then
``job.metrics()["usage"]``) and is recorded beside this one.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["OPEN_PLAN_SECONDS", "JOB_OVERHEAD_S", "QUICK_PER_EXECUTION_S", "DEFAULT_REP_DELAY_S", "LIMIT_FACTOR",
           "estimate_qpu_time", "execution_limit", "budget_check"]

#: Open Plan allowance: 10 minutes of QPU time per rolling 28 days.
OPEN_PLAN_SECONDS = 600.0
#: Fixed QPU time per job in IBM's quick formula.
JOB_OVERHEAD_S = 2.0
#: Per-execution QPU time in IBM's quick formula.
QUICK_PER_EXECUTION_S = 0.35e-3
#: Repetition delay (reset and initialisation) between shots when the backend reports none.
DEFAULT_REP_DELAY_S = 250e-6
#: Extra executions of each circuit at resilience level 2 (ZNE at noise factors 1, 3, 5).
ZNE_FACTOR = 3.0
#: ``max_execution_time`` = this × the estimate (capped by what is left).
LIMIT_FACTOR = 1.5


def _rep_delay(backend) -> float:
    for source in (backend, getattr(backend, "configuration", lambda: None)()):
        value = getattr(source, "default_rep_delay", None)
        if value:
            return float(value) * (1e-6 if value > 1e-2 else 1.0)  # configurations state µs
    return DEFAULT_REP_DELAY_S


def _measure_s(backend, layout) -> float:
    """Longest measurement of the layout's qubits (from the target; 0 when it has no durations)."""
    try:
        durations = [backend.target["measure"][(int(q),)].duration for q in layout]
    except Exception:  # noqa: BLE001 - plain simulators have no measure durations
        return 0.0
    return max((float(d) for d in durations if d), default=0.0)


def estimate_qpu_time(isa, backend, *, n_rows: int, shots: int, resilience_level: int = 0,
                      calibration_circuits: int = 0) -> dict[str, Any]:
    """Estimated QPU seconds of one job: the larger of IBM's quick formula and a per-execution sum.

    Parameters
    ----------
    isa : IsaCircuit
        Transpiled circuit (its ``stats["duration_s"]`` and layout).
    backend : qiskit.providers.BackendV2
    n_rows : int
        Parameter sets in the job (clips).
    shots : int
    resilience_level : int, default=0
        Level 2 multiplies the executions by :data:`ZNE_FACTOR`.
    calibration_circuits : int, default=0
        Readout calibration circuits sent in the same job, ``shots`` each.

    Returns
    -------
    dict
        ``quantum_seconds`` (the estimate used), ``ibm_quick_formula_s``, ``detailed_s``, ``circuit_s``,
        ``measure_s``, ``rep_delay_s``, ``overhead_s``, ``executions``, ``calibration_executions``,
        ``open_plan_fraction`` (of 600 s) and ``formula``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> isa = SimpleNamespace(stats={"duration_s": 0.0, "layout": []})
    >>> round(estimate_qpu_time(isa, None, n_rows=1000, shots=1024)["ibm_quick_formula_s"], 1)
    360.4
    """
    duration = float(isa.stats.get("duration_s", float("nan")))
    duration = 0.0 if math.isnan(duration) else duration
    rep, measure = _rep_delay(backend), _measure_s(backend, isa.stats.get("layout", []))
    factor = ZNE_FACTOR if resilience_level >= 2 else 1.0
    executions = int(n_rows) * int(shots)
    calibration = int(calibration_circuits) * int(shots)
    total = executions * factor + calibration
    quick = JOB_OVERHEAD_S + QUICK_PER_EXECUTION_S * total
    detailed = (JOB_OVERHEAD_S + executions * factor * (rep + duration + measure)
                + calibration * (rep + measure))
    seconds = max(quick, detailed)
    return {
        "quantum_seconds": seconds,
        "ibm_quick_formula_s": quick,
        "detailed_s": detailed,
        "circuit_s": duration,
        "measure_s": measure,
        "rep_delay_s": rep,
        "overhead_s": JOB_OVERHEAD_S,
        "executions": executions,
        "calibration_executions": calibration,
        "open_plan_fraction": seconds / OPEN_PLAN_SECONDS,
        "formula": "max(IBM's quick formula 2 s + 0.35 ms × executions, 2 s + executions × (reset + circuit "
                   "+ measurement)); executions = clips × shots" + (" × 3 (ZNE)" if factor > 1 else "")
                   + (" + readout calibration circuits × shots (same job)" if calibration else ""),
    }


def execution_limit(estimate: dict[str, Any], remaining_s: float | None) -> int:
    """``max_execution_time`` of the job: :data:`LIMIT_FACTOR` × the estimate, capped by the seconds left.

    Examples
    --------
    >>> execution_limit({"quantum_seconds": 100.0}, 600.0), execution_limit({"quantum_seconds": 100.0}, 120.0)
    (150, 120)
    """
    limit = math.ceil(LIMIT_FACTOR * float(estimate["quantum_seconds"]))
    if remaining_s is not None:
        limit = min(limit, int(remaining_s))
    return max(int(limit), 1)


def budget_check(estimate: dict[str, Any], budget: dict[str, Any]) -> dict[str, Any]:
    """The estimate against what is left: ``remaining_s``, ``limit_s``, ``fits``, ``max_execution_time_s``.

    Parameters
    ----------
    estimate : dict
        From :func:`estimate_qpu_time`.
    budget : dict
        From :func:`qser_core.hardware.backends.budget` (``remaining_s`` None: no limit reported).
    """
    remaining = budget.get("remaining_s")
    fits = remaining is None or estimate["quantum_seconds"] <= remaining
    return {"remaining_s": remaining, "limit_s": budget.get("limit_s"), "known": bool(budget.get("known")),
            "source": budget.get("source", ""), "fits": fits,
            "remaining_fraction": None if not remaining else estimate["quantum_seconds"] / remaining,
            "max_execution_time_s": execution_limit(estimate, remaining)}

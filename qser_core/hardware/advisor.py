"""Shots budget advisor: the fewest shots per clip that keep a head's answers, and how many clips then fit.

``qser hardware advise --model DIR --backend ibm_fez --json``.

From the shots curve (offline: the device's noise × λ, one job per shot count, the same clips), the
recommendation is the smallest shot count whose noisy predictions agree with the ideal ones on at
least ``target`` of the clips (default 95 %) *and* whose UA lies inside the ideal run's 95 %
interval. The QPU cost of a clip at that shot count is IBM's estimate
(:func:`qser_core.hardware.estimate.estimate_qpu_time`, called, not copied), so the clips that fit
in the remaining budget — the account's, when given, or the Open Plan's 10 minutes — is the largest
job whose estimate stays within it.
"""

from __future__ import annotations

from typing import Any, Sequence

from qser_core.config import HardwareConfig
from qser_core.errors import ConfigError
from qser_core.progress import RunContext

__all__ = ["AGREEMENT_TARGET", "recommend", "clips_within", "advise"]

#: Default share of clips whose prediction must match the ideal simulation's.
AGREEMENT_TARGET = 0.95


def recommend(points: Sequence[dict[str, Any]], ideal_ci95: Sequence[float], *,
              target: float = AGREEMENT_TARGET) -> dict[str, Any]:
    """The fewest shots whose point meets both conditions (pure: from curve points already scored).

    Parameters
    ----------
    points : sequence of dict
        Each with ``shots``, ``agreement`` (share of clips predicted as the ideal run does) and ``ua``.
    ideal_ci95 : (float, float)
        The ideal run's UA interval.
    target : float, default=0.95

    Returns
    -------
    dict
        ``shots`` (None when no point qualifies), ``reason`` (why that count, or why none), ``checked``
        (each point with ``agreement_ok`` and ``ua_ok``).

    Examples
    --------
    >>> pts = [{"shots": 64, "agreement": 0.8, "ua": 0.4}, {"shots": 256, "agreement": 0.96, "ua": 0.5}]
    >>> recommend(pts, (0.45, 0.6))["shots"]
    256
    """
    if not 0 < target <= 1:
        raise ConfigError(f"the agreement target must be a share in (0, 1]; got {target!r}")
    low, high = float(ideal_ci95[0]), float(ideal_ci95[1])
    checked = [{"shots": int(p["shots"]), "agreement": float(p["agreement"]), "ua": float(p["ua"]),
                "agreement_ok": float(p["agreement"]) >= target, "ua_ok": low <= float(p["ua"]) <= high}
               for p in sorted(points, key=lambda p: p["shots"])]
    for row in checked:
        if row["agreement_ok"] and row["ua_ok"]:
            return {"shots": row["shots"], "checked": checked,
                    "reason": f"fewest shots with agreement ≥ {target:.0%} ({row['agreement']:.1%}) and UA "
                              f"{row['ua']:.3f} inside the ideal interval [{low:.3f}, {high:.3f}]"}
    best = max(checked, key=lambda r: r["agreement"]) if checked else None
    return {"shots": None, "checked": checked,
            "reason": f"no shot count tried reached agreement ≥ {target:.0%} with UA inside [{low:.3f}, {high:.3f}]"
                      + (f"; the best was {best['shots']} shots ({best['agreement']:.1%}): the noise, not the "
                         "shots, limits this head" if best else "")}


def clips_within(budget_s: float, cost) -> int:
    """Largest ``n`` with ``cost(n) ≤ budget_s`` for a cost that grows with ``n`` (0 if even one clip does not fit)."""
    if cost(1) > budget_s:
        return 0
    low, high = 1, 2
    while cost(high) <= budget_s and high < 10**9:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if cost(mid) <= budget_s else (low, mid)
    return low


def advise(model, *, backend: str = "ibm_fez", shots: Sequence[int] | None = None, target: float = AGREEMENT_TARGET,
           noise_scale: float = 1.0, n_clips: int | None = None, budget_s: float | None = None, seed: int = 0,
           features=None, context: RunContext | None = None) -> dict[str, Any]:
    """Recommend shots per clip for ``model`` on ``backend`` and the test clips that fit the QPU budget.

    Parameters
    ----------
    model : TrainedModel
        A saved quantum head.
    backend : str, default="ibm_fez"
        Device whose noise (fake backend, offline) and timing give the advice.
    shots : sequence of int, optional
        Shot counts tried (default :data:`qser_core.hardware.noise.SHOT_COUNTS`).
    target : float, default=0.95
        Agreement with the ideal predictions to keep.
    noise_scale : float, default=1.0
        λ of the simulated noise.
    n_clips : int, optional
        Stratified subset of the test clips for the curve.
    budget_s : float, optional
        Remaining QPU seconds of the account (default: the Open Plan's 600 s).
    seed : int, default=0
    features : FeatureSet, optional
    context : RunContext, optional
        Progress per shot count and a cancel token, checked before each job: a stopped advice raises
        :class:`~qser_core.errors.TrainingCancelled` (a recommendation from part of the curve would mislead).

    Returns
    -------
    dict
        ``recommendation`` (:func:`recommend`), ``ideal`` (UA and interval), ``budget_s``, ``budget_source``,
        ``budget_shots`` (the recommended shots, or — when none meets the target, ``meets_target`` False —
        the fewest with the best agreement), ``seconds_per_job`` (the whole test set at those shots),
        ``clips_fit`` (clips that fit the budget in one job), ``n_test``, ``points`` (the curve), ``jobs``.
    """
    from qser_core.hardware.estimate import OPEN_PLAN_SECONDS, estimate_qpu_time
    from qser_core.hardware.noise import SHOT_COUNTS, check_noise_scale
    from qser_core.hardware.noise_aware import score_point, score_point_ideal
    from qser_core.hardware.run import plan

    counts = sorted({int(s) for s in (shots or SHOT_COUNTS)})
    if not counts or counts[0] < 1:
        raise ConfigError(f"shot counts must be positive whole numbers; got {shots!r}")
    if budget_s is not None and not budget_s > 0:
        raise ConfigError(f"the QPU budget must be a positive number of seconds; got {budget_s!r}")
    hardware = HardwareConfig(backend=backend, shots=counts[0], clips=n_clips or 0,
                              noise_scale=check_noise_scale(float(noise_scale)))
    run, device = plan(model, hardware, fake=True, seed=seed, features=features)
    ideal = score_point_ideal(run)
    context = RunContext.of(context)
    points = []
    for i, count in enumerate(counts):
        context.report(i, len(counts), f"{count} shots")
        context.check_cancelled(f"the shots advice was stopped after {i} of {len(counts)} shot counts; nothing is "
                                "recommended from part of the curve, so advise again")
        scored = score_point(run, device, shots=count)
        points.append({"shots": count, "ua": scored["noisy"]["ua"], "ua_ci95": scored["noisy"]["ua_ci95"],
                       "agreement": scored["agreement"]["agreement"], "job_id": scored["job_id"]})
    context.report(len(counts), len(counts), "done")
    rec = recommend(points, ideal["ua_ci95"], target=target)
    budget = float(budget_s) if budget_s is not None else OPEN_PLAN_SECONDS
    out = {"backend": run.backend, "noise_scale": float(noise_scale), "target": float(target),
           "ideal": {"ua": ideal["ua"], "ua_ci95": ideal["ua_ci95"]}, "recommendation": rec,
           "budget_s": budget, "budget_source": "account" if budget_s is not None else "open plan (10 min)",
           "n_test": len(run.test), "points": points, "jobs": len(points)}
    # the budget at the recommended shots, or (none qualifying) at the fewest shots with the best agreement
    budget_shots = rec["shots"] or max(rec["checked"], key=lambda r: (r["agreement"], -r["shots"]))["shots"]

    def cost(n: int) -> float:
        return estimate_qpu_time(run.isa, device, n_rows=n, shots=budget_shots)["quantum_seconds"]

    out.update(budget_shots=budget_shots, meets_target=rec["shots"] is not None,
               seconds_per_job=cost(len(run.test)), clips_fit=clips_within(budget, cost))
    out["all_test_clips_fit"] = out["clips_fit"] >= len(run.test)
    return out

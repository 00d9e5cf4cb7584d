"""Noise-aware heads against ideal ones under a device's noise: the calibrated rates and the comparison.

``python -m benchmarks.noise_aware --dataset emodb --data-dir ../shared/data/emodb --backend ibm_fez`` trains
both heads and writes the comparison; ``qser hardware noise-aware --model-ideal A --model-aware B
--backend ibm_fez --json`` compares two saved heads.

Calibrated rates (:func:`calibrated_rates`): the head's circuit is exported and transpiled for the
device exactly as the noisy evaluation does (:func:`qser_core.hardware.circuit.transpile_for`, same
seeds and trials), so the errors are those of the qubits and couplers the evaluation will use. For
each logical wire, the error rates of the ISA gates on its physical qubit are summed (single-qubit
gates; two-qubit gates touching it, routing SWAPs included) and spread over the circuit's own gates
on that wire. The target's ``error`` of a gate is its average gate infidelity ``r``; a depolarising
single-qubit gate with infidelity ``r`` puts a Pauli on the qubit with probability ``3r/2``, a
depolarising two-qubit gate puts a non-identity Pauli on each of its qubits with probability ``r``
(12 of its 15 Paulis). Readout errors come from the target's ``measure`` entries. λ multiplies them all,
as :func:`qser_core.hardware.noise.device_slice` does for the Aer evaluation.

The comparison (:func:`compare_training`): each head is planned once (export, transpile, clips) and
scored by the existing noisy evaluation — Aer with the device's noise × λ, one job per point — on
the same test clips, with the readout recalibration of :mod:`qser_core.hardware.recalibrate` beside
it; then paired tests (paired bootstrap of UA, McNemar) of noise-aware against ideal at each λ.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import numpy as np

from qser_core.config import HardwareConfig
from qser_core.errors import ConfigError, DataError
from qser_core.progress import RunContext

__all__ = ["COMPARE_SCALES", "calibrated_rates", "torch_noisy", "score_point", "compare_training"]

#: λ values of the comparison.
COMPARE_SCALES = (0.5, 1.0, 2.0)


@functools.lru_cache(maxsize=32)
def _device_rates(spec, backend: str, optimization_level: int, seed: int):
    """Rates at λ = 1 (cached: one export and transpile per circuit, backend and seed in a process)."""
    from qser_core.hardware.backends import fake_backend
    from qser_core.hardware.circuit import TRANSPILE_TRIALS, export_circuit, transpile_for
    from qser_core.heads.noisy_simulator import NoiseRates

    device = fake_backend(backend)
    _, weights = spec.placeholder_angles(seed=seed)
    isa = transpile_for(export_circuit(weights, spec=spec), device, optimization_level=optimization_level, seed=seed,
                        trials=TRANSPILE_TRIALS)  # as prepare_run: the same qubits as the evaluation
    target, circuit = device.target, isa.circuit
    layout = [int(q) for q in isa.layout]
    e1, e2 = np.zeros(device.num_qubits), np.zeros(device.num_qubits)
    for inst in circuit.data:
        name = inst.operation.name
        qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
        if name in ("barrier", "delay", "measure") or name not in target.operation_names:
            continue
        props = target[name].get(qargs)
        error = float(props.error) if props is not None and props.error is not None else 0.0
        (e1 if len(qargs) == 1 else e2)[list(qargs)] += error
    n1, n2 = np.zeros(spec.n_qubits), np.zeros(spec.n_qubits)
    for op in spec.tape(np.ones(spec.n_qubits), np.ones(spec.weight_shape)).operations:
        (n1 if len(op.wires) == 1 else n2)[[int(w) for w in op.wires]] += 1
    phys = np.asarray(layout)
    p1 = np.where(n1 > 0, 1.5 * e1[phys] / np.maximum(n1, 1), 0.0)
    p2 = np.where(n2 > 0, e2[phys] / np.maximum(n2, 1), 0.0)
    readout = np.zeros((spec.n_qubits, 2))
    measure = target["measure"] if "measure" in target.operation_names else {}
    for q, p in enumerate(layout):
        props = measure.get((p,))
        if props is None:
            continue
        sym = float(props.error or 0.0)
        readout[q] = [getattr(props, "prob_meas1_prep0", None) or sym, getattr(props, "prob_meas0_prep1", None) or sym]
    source = {"backend": backend, "layout": layout, "isa_two_qubit_gates": int(isa.stats.get("two_qubit_gates", 0)),
              "optimization_level": optimization_level, "seed": seed}
    return NoiseRates(np.minimum(p1, 0.75), np.minimum(p2, 0.75), np.minimum(readout, 0.5), source=source)


def calibrated_rates(spec, backend: str = "ibm_fez", *, noise_scale: float = 1.0, optimization_level: int = 1,
                     seed: int = 0):
    """Per-wire error rates of ``spec`` on ``backend``'s calibration, × λ.

    Parameters
    ----------
    spec : CircuitSpec
    backend : str, default="ibm_fez"
        A fake backend name (:data:`qser_core.hardware.backends.FAKE_BACKENDS`).
    noise_scale : float, default=1.0
        λ (0 = no noise; nothing is transpiled).
    optimization_level : int, default=1
    seed : int, default=0
        Transpiler seed (as the noisy evaluation's).

    Returns
    -------
    NoiseRates
    """
    from qser_core.hardware.noise import check_noise_scale
    from qser_core.heads.noisy_simulator import NoiseRates

    lam = check_noise_scale(noise_scale)
    if lam == 0:
        return NoiseRates.zeros(spec.n_qubits, backend=backend, noise_scale=0.0)
    return _device_rates(spec, str(backend), int(optimization_level), int(seed)).scaled(lam)


def torch_noisy(spec, *, backend: str = "ibm_fez", noise_scale: float = 1.0, shots: int = 0, seed: int = 0,
                optimization_level: int = 1, dtype=None):
    """Factory of the ``torch.noisy`` executor: :class:`~qser_core.heads.noisy_simulator.NoisyTorchStatevector`
    with :func:`calibrated_rates` of ``backend`` × ``noise_scale``."""
    import torch

    from qser_core.heads.noisy_simulator import NoisyTorchStatevector

    rates = calibrated_rates(spec, backend, noise_scale=noise_scale, optimization_level=optimization_level)
    return NoisyTorchStatevector(spec, rates, shots=shots, seed=seed, dtype=dtype or torch.complex64)


def score_point(run, device, **changes: Any) -> dict[str, Any]:
    """One offline job of a planned run with some fields changed (``noise_scale``, ``shots``), scored.

    Returns :func:`qser_core.hardware.evaluation.score_run`'s dict (per-clip predictions included).
    """
    from qser_core.hardware.evaluation import score_run
    from qser_core.hardware.execute import expectations, local_target, submit, wait

    point = dataclasses.replace(run, **changes)
    target = local_target(point.isa, device, noise_scale=point.noise_scale, seed=point.seed)
    execution = submit(point.isa, point.angles, target=target, shots=point.shots, primitive=point.primitive,
                       mitigation=point.mitigation, seed=point.seed)
    expvals = expectations(wait(execution), primitive=execution.primitive, layout=execution.layout,
                           mitigation=execution.mitigation)
    scored = score_run(point, expvals, jobs=1)
    scored["job_id"] = execution.job_id
    return scored


def _headline(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: scores[k] for k in ("ua", "ua_ci95", "wa", "macro_f1")}


def compare_training(models: dict[str, Any], *, backend: str = "ibm_fez",
                     noise_scales: Sequence[float] = COMPARE_SCALES, shots: int = 1024, n_clips: int | None = None,
                     recalibrate: int = 100, seed: int = 0, features=None,
                     context: RunContext | None = None) -> dict[str, Any]:
    """Ideal-trained and noise-aware heads under the same device noise, same clips, paired tests.

    Parameters
    ----------
    models : dict
        ``{"ideal": TrainedModel, "noise_aware": TrainedModel}`` (quantum heads on the same data split).
    backend : str, default="ibm_fez"
        Fake backend whose noise (× λ) scores both.
    noise_scales : sequence of float, default=(0.5, 1, 2)
    shots : int, default=1024
    n_clips : int, optional
        Stratified subset of the test clips (all by default).
    recalibrate : int, default=100
        Training clips in each job to refit the readout (0 = no recalibration column).
    seed : int, default=0
    features : FeatureSet, optional
        The corpus with embeddings (read from the cache when omitted).
    context : RunContext, optional
        Progress per job and a cancel token, checked before each job: a stopped comparison raises
        :class:`~qser_core.errors.TrainingCancelled` (a verdict from some of the λ values would mislead).

    Returns
    -------
    dict
        ``points`` (one per λ: each head's ``noisy`` UA with interval, ``agreement`` with its own ideal
        run, ``recalibrated`` UA, and ``paired`` — noise-aware minus ideal: paired-bootstrap UA difference
        with interval and p, McNemar), ``ideal`` (each head's exact-simulation scores), ``helps`` (per λ:
        whether noise-aware is better with the paired interval above 0), ``clips``, ``jobs``.
    """
    from qser_core.experiments.metrics import mcnemar, paired_bootstrap
    from qser_core.hardware.noise import check_noise_scale
    from qser_core.hardware.run import plan

    if set(models) != {"ideal", "noise_aware"}:
        raise ConfigError(f"compare two heads named ideal and noise_aware; got {sorted(models)}")
    scales = [check_noise_scale(float(x)) for x in noise_scales]
    if not scales:
        raise ConfigError("give at least one noise scale λ")
    runs = {}
    for name, model in models.items():
        hardware = HardwareConfig(backend=backend, shots=shots, clips=n_clips or 0, recalibrate=recalibrate)
        runs[name] = plan(model, hardware, fake=True, seed=seed, features=features)
    if runs["ideal"][0].test.clips != runs["noise_aware"][0].test.clips:
        raise DataError("the two heads were not tested on the same clips; train both on the same data and split "
                        "settings (data.*) so their test speakers match")
    y_true = runs["ideal"][0].test.y_true
    context = RunContext.of(context)
    points, total, done = [], len(scales) * len(runs), 0
    for lam in scales:
        row: dict[str, Any] = {"noise_scale": lam}
        preds = {}
        for name, (run, device) in runs.items():
            context.report(done, total, f"{name} head at λ = {lam}")
            context.check_cancelled(f"the comparison was stopped after {done} of {total} jobs; no verdict is drawn "
                                    "from part of the λ values, so compare again")
            scored = score_point(run, device, noise_scale=lam)
            done += 1
            preds[name] = np.asarray(scored["noisy"]["y_pred"])
            row[name] = {**_headline(scored["noisy"]), "agreement": scored["agreement"]["agreement"],
                         "zcorr": scored["agreement"]["zcorr"], "job_id": scored["job_id"],
                         **({"recalibrated": _headline(scored["recalibrated"])} if "recalibrated" in scored else {})}
        boot = paired_bootstrap(y_true, preds["noise_aware"], preds["ideal"], metric="ua", seed=seed)
        row["paired"] = {"ua_diff": boot["diff"], "ua_diff_ci95": list(boot["ci95"]), "p_value": boot["p_value"],
                         "mcnemar": mcnemar(y_true, preds["noise_aware"], preds["ideal"])}
        points.append(row)
    context.report(total, total, "done")
    ideal = {name: _headline(score_point_ideal(run)) for name, (run, _) in runs.items()}
    helps = {str(p["noise_scale"]): bool(p["paired"]["ua_diff_ci95"][0] > 0) for p in points}
    return {"backend": backend, "shots": int(shots), "noise_scales": scales, "n_test": len(y_true),
            "recalibrate": int(recalibrate), "ideal": ideal, "points": points, "helps": helps,
            "jobs": total, "transpiled": {name: run.isa.stats for name, (run, _) in runs.items()},
            "verdict": _verdict(points)}


def score_point_ideal(run) -> dict[str, Any]:
    """Scores of a planned run's exact simulation (no job)."""
    from qser_core.hardware import compare

    w, b = run.readout
    return compare.target_scores(run.test.y_true, run.ideal, w, b, jobs=0)


def _verdict(points: list[dict[str, Any]]) -> str:
    """One honest sentence: where noise-aware training helped, where it did not."""
    better = [p["noise_scale"] for p in points if p["paired"]["ua_diff_ci95"][0] > 0]
    worse = [p["noise_scale"] for p in points if p["paired"]["ua_diff_ci95"][1] < 0]
    if better and not worse:
        return f"noise-aware training raised UA at λ = {', '.join(map(str, better))} (paired 95% interval above 0)"
    if worse and not better:
        return f"noise-aware training lowered UA at λ = {', '.join(map(str, worse))} (paired 95% interval below 0)"
    if not better and not worse:
        return ("no significant difference: at every λ the paired 95% interval of the UA difference contains 0; "
                "noise-aware training did not measurably help here")
    return f"mixed: better at λ = {better}, worse at λ = {worse}"

"""Row 4, noisy evaluation: ``python -m benchmarks --only hardware``.

1,000 clips × 1,024 shots of the quantum head's circuit (8 qubits, the default 2 strong layers,
fixed weights) on the offline fake ``ibm_fez`` (156-qubit Heron, its calibration as Aer noise)
through :mod:`qser_core.hardware`: transpiled once (level 1, fewest two-qubit gates of 8 seeds, as
``qser hardware run`` does), then every clip one parameter row of ONE
EstimatorV2 PUB in ONE job. Seconds from submission to ⟨Z⟩ in hand, and the primitive jobs it took.
Targets: 1 job, and at least 5× faster than what a plain loop would do, one job per clip (timed on a
few clips and scaled to 1,000). There is no absolute-seconds target: the time sits at Aer's own
density-matrix cost of the circuits on this machine (37-50 s measured on 2 shared cores), which the
one-job design does not change. Transpiling (once per model) is reported apart.

Beside the wall time each run keeps its CPU time (all threads of this process) and the threads Aer
ran circuits on: on a shared machine the wall time measures the other users as much as this code.
Aer's density-matrix simulation is ~85 % of the CPU (see :func:`qser_core.hardware.noise.parallel_options`);
with both cores free, circuits run two at a time.
"""

from __future__ import annotations

import importlib.util
import os
import time

from benchmarks.common import log, median, row, skipped

N_CLIPS, SHOTS, BACKEND = 1000, 1024, "ibm_fez"
NAME = f"noisy evaluation, {N_CLIPS:,} clips × {SHOTS:,} shots, fake 156-qubit {BACKEND}"
#: One job must beat one job per clip by at least this factor.
MIN_SPEEDUP = 5


def run(quick: bool) -> list[dict]:
    """Seconds and jobs of the one-job evaluation; ``quick``: 50 clips (scaled × 20), 1 per-clip job."""
    if importlib.util.find_spec("qser_core.hardware") is None:
        return [skipped(NAME, "not available: qser_core.hardware is not in this checkout", unit="s")]
    import numpy as np

    n_clips, n_single, repeat = (50, 1, 1) if quick else (N_CLIPS, 5, 2)
    isa, device, transpile_seconds = _transpiled()
    angles = np.random.default_rng(0).uniform(0, np.pi, (n_clips, len(isa.observables)))
    runs = [_evaluate(isa, device, angles) for _ in range(repeat)]
    seconds = median([r["seconds"] for r in runs]) * N_CLIPS / n_clips
    cpu_seconds = median([r["cpu_seconds"] for r in runs]) * N_CLIPS / n_clips
    single = [_evaluate(isa, device, angles[i:i + 1]) for i in range(n_single)]
    per_clip = median([r["seconds"] for r in single]) * N_CLIPS
    jobs = runs[0]["jobs"]
    log(f"hardware: {seconds:.1f} s ({cpu_seconds:.1f} s CPU, Aer on {runs[0]['threads']} thread(s)) in {jobs} "
        f"job(s) for {N_CLIPS} clips; one job per clip: {per_clip:.0f} s")
    common = dict(backend=BACKEND, shots=SHOTS, clips_timed=n_clips, extrapolated=n_clips < N_CLIPS)
    return [
        row(NAME, value=seconds, unit="s", reference="one primitive job per clip (timed on a few, × 1,000)",
            reference_value=per_clip, ratio=per_clip / seconds, target=(">=", MIN_SPEEDUP, "ratio"), repeats=repeat,
            cpu_seconds=round(cpu_seconds, 1), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
            runs=runs, reference_measured={"extrapolated": True, "clips_timed": n_single},
            transpile_seconds=round(transpile_seconds, 3), transpiled=isa.stats, **common),
        row(f"{NAME}: primitive jobs", value=float(jobs), unit="jobs", reference="one job per clip",
            reference_value=float(N_CLIPS), ratio=N_CLIPS / jobs, target=("<=", 1, "value"), **common),
    ]


def _transpiled():
    """The head's circuit transpiled once for the fake backend; the backend; the seconds transpiling took."""
    from qser_core.hardware.backends import fake_backend
    from qser_core.hardware.circuit import TRANSPILE_TRIALS, export_circuit, transpile_for
    from qser_core.heads.circuits import CircuitSpec

    spec = CircuitSpec(8, 2, encoding="angle-ry", ansatz="strong")
    _, weights = spec.placeholder_angles(seed=0)
    device = fake_backend(BACKEND)
    start = time.perf_counter()
    isa = transpile_for(export_circuit(weights, spec=spec), device, optimization_level=1,
                        trials=TRANSPILE_TRIALS)  # as `qser hardware run` transpiles: fewest two-qubit gates of 8 seeds
    return isa, device, time.perf_counter() - start


def _evaluate(isa, device, angles) -> dict:
    """One ``submit`` of every row, waited for and read: seconds, jobs, PUBs and rows the result holds."""
    from qser_core.hardware.execute import expectations, local_target, submit, wait

    start, cpu = time.perf_counter(), time.process_time()
    target = local_target(isa, device, noise_scale=1.0, seed=0)
    execution = submit(isa, angles, target=target, shots=SHOTS, seed=0)
    result = wait(execution)
    expvals = expectations(result, primitive=execution.primitive, layout=execution.layout)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if expvals.shape != angles.shape:
        raise RuntimeError(f"the job returned ⟨Z⟩ of shape {expvals.shape} for {angles.shape} angles")
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "jobs": len({execution.job_id}),
            "pubs": len(result), "rows": int(expvals.shape[0]),
            "threads": int(target.mode.options.max_parallel_threads)}

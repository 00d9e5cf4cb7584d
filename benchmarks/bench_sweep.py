"""Sweeps on Ray: ``python benchmarks/bench_sweep.py [--quick]`` (or ``run(quick)`` from the collector).

Two measurements on the demo corpus, with MLflow writing to a throwaway store:

1. the same 24-task sweep (4 quantum configurations × 3 folds × 2 seeds, fixed epochs: patience above
   them) with 1 and with 2 local Ray workers; the speed-up is the 1-worker time over the 2-worker time
   (target ≥ 1.6× on the 2-core machine);
2. Ray's per-task overhead: a task that only touches the embeddings (passed by object reference),
   submitted and gathered, against calling the same function in a plain loop.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRID = {"head.kind": ["quantum"], "reduce.n_qubits": ["2", "4", "6", "8"]}
BASE = ["data.n_folds=3", "train.seeds=0,1", "head.n_layers=1", "head.ansatz=basic"]
OVERHEAD_TASKS = 200
TARGET_SPEEDUP = 1.6


def _row(name, value, unit, *, reference=None, reference_value=None, target=None, **extra) -> dict:
    """The benchmark row every collector reads (same keys as benchmarks/common.py's ``row``)."""
    ratio = reference_value / value if reference_value and value else None
    verdict = "info" if target is None else ("pass" if ratio is not None and ratio >= target[1] else "fail")
    return {"name": name, "value": value, "unit": unit, "reference": reference, "reference_value": reference_value,
            "ratio": ratio, "target": None if target is None else f"{target[0]} {target[1]}", "verdict": verdict,
            **extra}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sweep_seconds(workers: int, epochs: int) -> tuple[float, dict]:
    import ray

    from qser_core.config import QserConfig
    from qser_core.experiments.sweep import run_sweep

    ray.shutdown()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    config = QserConfig().with_overrides([*BASE, f"train.epochs={epochs}", f"train.patience={epochs + 1}"])
    start = time.perf_counter()
    result = run_sweep(config, GRID, name=f"bench-{workers}w-{uuid.uuid4().hex[:6]}")
    seconds = time.perf_counter() - start
    ray.shutdown()
    _log(f"sweep with {workers} worker(s): {result.tasks['run']} tasks in {seconds:.1f} s")
    return seconds, result.tasks


def _touch(features, i: int) -> int:
    return int(features.embeddings.shape[0]) + i


def _overhead(n_tasks: int) -> tuple[float, float]:
    """Seconds per task through Ray (2 workers) and per plain call, for the same trivial function."""
    import ray

    from qser_core.config import QserConfig
    from qser_core.experiments.crossval import prepare

    features = prepare(QserConfig())
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    remote, ref = ray.remote(num_cpus=1)(_touch), ray.put(features)
    ray.get([remote.remote(ref, i) for i in range(4)])  # start the workers before timing
    start = time.perf_counter()
    ray.get([remote.remote(ref, i) for i in range(n_tasks)])
    per_task = (time.perf_counter() - start) / n_tasks
    ray.shutdown()
    start = time.perf_counter()
    for i in range(n_tasks):
        _touch(features, i)
    return per_task, (time.perf_counter() - start) / n_tasks


def run(quick: bool) -> list[dict]:
    """Rows: the 24-task sweep on 2 workers against 1 worker, and Ray's per-task overhead."""
    epochs = 3 if quick else 15
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    with tempfile.TemporaryDirectory(prefix="qser-bench-sweep-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"  # never the user's run store
        os.environ["MLFLOW_EXPERIMENT_NAME"] = "bench-sweep"
        try:
            one, tasks = _sweep_seconds(1, epochs)
            two, _ = _sweep_seconds(2, epochs)
            per_task, per_call = _overhead(50 if quick else OVERHEAD_TASKS)
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    setting = f"{tasks['run']} tasks: 4 quantum configurations × 3 folds × 2 seeds, {epochs} epochs, demo corpus"
    return [
        _row("sweep, 2 Ray workers", round(two, 2), "s", reference="same sweep, 1 Ray worker",
             reference_value=round(one, 2), target=(">=", TARGET_SPEEDUP), setting=setting,
             cpus=os.cpu_count()),
        _row("Ray per-task overhead (submit + gather, embeddings by reference)", round(per_task * 1000, 3), "ms",
             reference="plain in-process call", reference_value=round(per_call * 1000, 4),
             tasks=50 if quick else OVERHEAD_TASKS),
    ]


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=1))

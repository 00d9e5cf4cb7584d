"""Sweeps on Ray: ``python benchmarks/bench_sweep.py [--quick]`` (or ``run(quick)`` from the collector; ``--quick``
times only the per-task overhead).

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

from benchmarks.common import skipped  # noqa: E402  (after the sys.path line above)

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


def _sweep_seconds(workers: int, epochs: int, *, then=None) -> tuple[float, dict]:
    import ray

    from qser_core.config import QserConfig
    from qser_core.experiments.sweeps.runner import run_sweep

    ray.shutdown()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # Start every worker and run one real 1-epoch task there first: the imports (torch, PennyLane, and
    # torch._dynamo, which the first optimizer pulls in) cost 5-8 s once per worker for the whole sweep.
    # On the quiet machine importing alone left 4-5 s in each worker's first task (first result at 6.3 s,
    # the rest ~1 s each): paid once by one worker, in parallel by two, it hid the scaling of the tasks.
    warm, task = ray.remote(num_cpus=1)(_warm_worker), ray.put(_warm_task())
    ray.get([warm.remote(task) for _ in range(workers)])
    config = QserConfig().with_overrides([*BASE, f"train.epochs={epochs}", f"train.patience={epochs + 1}"])
    start = time.perf_counter()
    result = run_sweep(config, GRID, name=f"bench-{workers}w-{uuid.uuid4().hex[:6]}")
    seconds = time.perf_counter() - start
    _log(f"sweep with {workers} worker(s): {result.tasks['run']} tasks in {seconds:.1f} s")
    if then is not None:  # more timing on the same warm workers (a Ray start costs ~5-10 s)
        then()
    ray.shutdown()
    return seconds, result.tasks


def _warm_driver() -> None:
    """The driver's first-time costs, paid before either clock starts: the demo embeddings and the store's
    creation (MLflow's SQLite migrations). Left in, they went to the 1-worker sweep, timed first (2.2x in a
    3-epoch run, more than two cores can give)."""
    from qser_core.config import QserConfig
    from qser_core.experiments.pipeline import prepare
    from qser_core.tracking.recorder import check_store

    prepare(QserConfig().with_overrides(BASE))
    check_store()


def _warm_task():
    """The sweep's first task at 1 epoch, and its features: what a worker runs to warm up."""
    from qser_core.config import QserConfig
    from qser_core.experiments.pipeline import prepare
    from qser_core.experiments.protocols.crossval import plan_fold_tasks
    from qser_core.experiments.sweeps.grid import effective_config, expand_grid

    base = QserConfig().with_overrides([*BASE, "train.epochs=1"])
    config = effective_config(expand_grid(base, GRID)[-1].config)
    features = prepare(config)
    return plan_fold_tasks(config, features)[0], features


def _warm_worker(task_and_features) -> None:
    import time as clock

    from qser_core.experiments.protocols.crossval import run_fold_task

    run_fold_task(*task_and_features)
    clock.sleep(0.5)  # hold this worker so the next warm-up task lands on another one


def _touch(features, i: int) -> int:
    return int(features.embeddings.shape[0]) + i


def _overhead(n_tasks: int) -> tuple[float, float]:
    """Seconds per task through the running Ray (warm workers) and per plain call, for the same trivial function."""
    import ray

    from qser_core.config import QserConfig
    from qser_core.experiments.pipeline import prepare

    features = prepare(QserConfig())
    remote, ref = ray.remote(num_cpus=1)(_touch), ray.put(features)
    ray.get([remote.remote(ref, i) for i in range(4)])  # the function reaches the workers before timing
    start = time.perf_counter()
    ray.get([remote.remote(ref, i) for i in range(n_tasks)])
    per_task = (time.perf_counter() - start) / n_tasks
    start = time.perf_counter()
    for i in range(n_tasks):
        _touch(features, i)
    return per_task, (time.perf_counter() - start) / n_tasks


def run(quick: bool) -> list[dict]:
    """Rows: the 24-task sweep on 2 workers against 1 worker, and Ray's per-task overhead (``quick``: that alone)."""
    epochs = 30  # 30: a task of ~1 s on a quiet machine, so Ray's scheduling is not what is timed
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    with tempfile.TemporaryDirectory(prefix="qser-bench-sweep-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"  # never the user's run store
        os.environ["MLFLOW_EXPERIMENT_NAME"] = "bench-sweep"
        try:
            if quick:  # Ray's start and the workers' imports cost ~20 s per sweep here: only the overhead row
                return [skipped("sweep, 2 Ray workers", "not run with --quick (two Ray starts, ~50 s; "
                                "tests/experiments/sweeps/test_runner.py runs real sweeps)", unit="s"),
                        _overhead_row(*_overhead_alone(50), tasks=50)]
            _warm_driver()
            overhead: list[tuple[float, float]] = []
            one, _ = _sweep_seconds(1, epochs)
            two, tasks = _sweep_seconds(2, epochs,
                                        then=lambda: overhead.append(_overhead(OVERHEAD_TASKS)))
            per_task, per_call = overhead[0]
        finally:
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    setting = f"{tasks['run']} tasks: 4 quantum configurations × 3 folds × 2 seeds, {epochs} epochs, demo corpus"
    return [
        _row("sweep, 2 Ray workers", round(two, 2), "s", reference="same sweep, 1 Ray worker",
             reference_value=round(one, 2), target=(">=", TARGET_SPEEDUP), setting=setting, cpus=os.cpu_count()),
        _overhead_row(per_task, per_call, tasks=OVERHEAD_TASKS),
    ]


def _overhead_row(per_task: float, per_call: float, *, tasks: int) -> dict:
    return _row("Ray per-task overhead (submit + gather, embeddings by reference)", round(per_task * 1000, 3), "ms",
                reference="plain in-process call", reference_value=round(per_call * 1000, 4), tasks=tasks)


def _overhead_alone(n_tasks: int) -> tuple[float, float]:
    """:func:`_overhead` in its own 2-CPU Ray session."""
    import ray

    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        return _overhead(n_tasks)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=1))

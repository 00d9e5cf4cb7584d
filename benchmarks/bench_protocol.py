"""Row 3, the whole protocol: ``python -m benchmarks --only protocol``.

Wall time of speaker-disjoint cross-validation (``qser evaluate``: 5 folds × 3 seeds, PCA per
fold, early-stopping split, test metrics) of the quantum head (8 qubits, the default circuit)
on a synthetic CREMA-D-sized feature set (7,442 rows, 91 speakers, 1,280-dimensional
embeddings with class structure), and the same for the parameter-matched MLP, measured in the
same run. Every fit runs a fixed number of epochs (5; patience above it), so the time is the
protocol's and not early stopping's luck (the default config allows up to 200 with early stopping:
scale by the epochs it runs); the JSON row gives seconds per fold task. The default tuning budget
is on (:data:`qser_core.experiments.tuning.TRIALS` candidates per head and task), as in ``qser evaluate``.
MLflow tracking is off (it would write into the user's run store).
"""

from __future__ import annotations

import time

from benchmarks.common import log, row
from qser_core.experiments.tuning import TRIALS
from qser_core.progress import RunContext

N_ROWS, N_SPEAKERS, DIM = 7442, 91, 1280
FOLDS, SEEDS = 5, (0, 1, 2)


def run(quick: bool) -> list[dict]:
    """Quantum head and parameter-matched MLP; ``quick`` times one fold task of 2 epochs and scales × 15."""
    epochs = 2 if quick else 5  # 5: the run fits the 10-minute budget (10 took 274 s for the quantum head alone)
    features = synthetic_features()
    _warm_up()
    measured = {kind: _protocol(kind, features, epochs=epochs, quick=quick) for kind in ("quantum", "mlp-matched")}
    q, m = measured["quantum"], measured["mlp-matched"]
    common = dict(protocol=f"{FOLDS} folds × {len(SEEDS)} seeds, {epochs} epochs per fit, {TRIALS} tuning "
                           f"candidates per fold task, {N_ROWS:,} rows, "
                           f"{N_SPEAKERS} speakers (synthetic features)")
    return [
        row("whole protocol, quantum head (8 qubits)", value=q["seconds"], unit="s",
            reference="parameter-matched MLP, same protocol", reference_value=m["seconds"],
            ratio=m["seconds"] / q["seconds"], measured=q, reference_measured=m, **common),
        row("whole protocol, parameter-matched MLP", value=m["seconds"], unit="s", measured=m, **common),
    ]


def synthetic_features(*, n_rows: int = N_ROWS, n_speakers: int = N_SPEAKERS, dim: int = DIM, seed: int = 0):
    """A CREMA-D-sized ``FeatureSet``: class means + speaker offsets + noise, no audio behind it."""
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from qser_core.data.corpus import EMOTIONS, Corpus, IndexReport
    from qser_core.experiments.pipeline import FeatureSet

    rng = np.random.default_rng(seed)
    speakers = np.arange(n_rows) * n_speakers // n_rows
    labels = rng.integers(0, len(EMOTIONS), n_rows)
    # weak class structure (UA well below 1, as on real speech) under speaker offsets and noise
    class_means, speaker_offsets = rng.standard_normal((len(EMOTIONS), dim)), rng.standard_normal((n_speakers, dim))
    X = (0.06 * class_means[labels] + 0.7 * speaker_offsets[speakers]
         + 2.0 * rng.standard_normal((n_rows, dim))).astype(np.float32)
    table = pd.DataFrame({
        "path": [f"/synthetic/{1001 + s}_{i:05d}_{EMOTIONS[e]}.wav" for i, (s, e) in enumerate(zip(speakers, labels))],
        "speaker": [str(1001 + s) for s in speakers], "emotion": [EMOTIONS[e] for e in labels]})
    corpus = Corpus(table=table, report=IndexReport(n_files=n_rows, n_clips=n_rows), dataset="crema-d",
                    root=Path("/synthetic"))
    return FeatureSet(corpus=corpus, embeddings=X, labels=labels)


def _warm_up() -> None:
    """Imports and first-call costs (PennyLane, torch kernels) paid before any clock starts."""
    import numpy as np

    from qser_core.config import HeadConfig
    from qser_core.heads.factory import make_head

    config = _config("quantum", epochs=1)
    X, y = np.random.default_rng(0).uniform(0, np.pi, (60, 8)), np.arange(60) % 6
    for kind in ("quantum", "mlp-matched"):
        make_head(HeadConfig(kind=kind), config.train, n_qubits=8, seed=0).fit(X, y)


def _config(kind: str, *, epochs: int):
    from qser_core.config import QserConfig

    return (QserConfig().replace("data", dataset="crema-d", data_dir="/synthetic", n_folds=FOLDS)
            .replace("reduce", n_qubits=8).replace("head", kind=kind)
            .replace("train", epochs=epochs, patience=epochs + 1, seeds=SEEDS))


def _protocol(kind: str, features, *, epochs: int, quick: bool) -> dict:
    """``evaluate`` end to end; ``quick``: the first fold task alone, × 15 (PCA counted per task: an upper bound)."""
    from qser_core.experiments.protocols.crossval import evaluate, plan_fold_tasks, run_fold_task

    config = _config(kind, epochs=epochs)
    start = time.perf_counter()
    if quick:
        fits = [run_fold_task(plan_fold_tasks(config, features)[0], features)]
    else:
        fits = evaluate(config, features=features, context=RunContext(track=False)).results
    seconds = time.perf_counter() - start
    scale = FOLDS * len(SEEDS) / len(fits)
    log(f"protocol {kind}: {len(fits)} fold tasks in {seconds:.1f} s")
    return {"seconds": seconds * scale, "seconds_timed": round(seconds, 3), "tasks_timed": len(fits),
            "extrapolated": scale != 1, "seconds_per_task": round(seconds / len(fits), 3),
            "epochs_per_task": epochs, "params": int(fits[0].hyperparameters["n_params"]),
            "ua": round(sum(f.metrics["ua"] for f in fits) / len(fits), 4)}

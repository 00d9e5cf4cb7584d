"""Row 3, the whole protocol: ``python -m benchmarks --only protocol``.

Wall time of speaker-disjoint cross-validation (``qser evaluate``: 5 folds × 3 seeds, PCA per
fold, early-stopping split, test metrics) of the quantum head (8 qubits, the default circuit)
on a synthetic CREMA-D-sized feature set (7,442 rows, 91 speakers, 1,280-dimensional
embeddings with class structure), and the same for the parameter-matched MLP, measured in the
same run. Every fit runs a fixed number of epochs (patience above it), so the time is the
protocol's and not early stopping's luck; the JSON row gives seconds per fit and per epoch.
MLflow tracking is off (it would write into the user's run store).
"""

from __future__ import annotations

import time

from benchmarks.common import log, row

N_ROWS, N_SPEAKERS, DIM = 7442, 91, 1280
FOLDS, SEEDS = 5, (0, 1, 2)


def run(quick: bool) -> list[dict]:
    """Quantum head and parameter-matched MLP; ``quick`` runs one seed of one epoch per fit and scales × 3 seeds."""
    epochs, seeds = (1, SEEDS[:1]) if quick else (10, SEEDS)
    features = synthetic_features()
    measured = {kind: _protocol(kind, features, epochs=epochs, seeds=seeds) for kind in ("quantum", "mlp-matched")}
    q, m = measured["quantum"], measured["mlp-matched"]
    common = dict(protocol=f"{FOLDS} folds × {len(SEEDS)} seeds, {epochs} epochs per fit, {N_ROWS:,} rows, "
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
    from qser_core.experiments.crossval import FeatureSet

    rng = np.random.default_rng(seed)
    speakers = np.arange(n_rows) * n_speakers // n_rows
    labels = rng.integers(0, len(EMOTIONS), n_rows)
    X = (rng.standard_normal((len(EMOTIONS), dim))[labels] + 0.7 * rng.standard_normal((n_speakers, dim))[speakers]
         + 2.0 * rng.standard_normal((n_rows, dim))).astype(np.float32)
    table = pd.DataFrame({
        "path": [f"/synthetic/{1001 + s}_{i:05d}_{EMOTIONS[e]}.wav" for i, (s, e) in enumerate(zip(speakers, labels))],
        "speaker": [str(1001 + s) for s in speakers], "emotion": [EMOTIONS[e] for e in labels]})
    corpus = Corpus(table=table, report=IndexReport(n_files=n_rows, n_clips=n_rows), dataset="crema-d",
                    root=Path("/synthetic"))
    return FeatureSet(corpus=corpus, embeddings=X, labels=labels)


def _protocol(kind: str, features, *, epochs: int, seeds: tuple[int, ...]) -> dict:
    from qser_core.config import QserConfig
    from qser_core.experiments.crossval import evaluate

    config = (QserConfig().replace("data", dataset="crema-d", data_dir="/synthetic", n_folds=FOLDS)
              .replace("reduce", n_qubits=8).replace("head", kind=kind)
              .replace("train", epochs=epochs, patience=epochs + 1, seeds=seeds))
    start = time.perf_counter()
    evaluation = evaluate(config, features=features, track=False)
    seconds = time.perf_counter() - start
    fits = len(evaluation.runs)
    scale = len(SEEDS) / len(seeds)  # quick: one seed timed, the protocol has three
    log(f"protocol {kind}: {fits} fits in {seconds:.1f} s")
    return {"seconds": seconds * scale, "seconds_timed": round(seconds, 3), "fits_timed": fits,
            "extrapolated": scale != 1, "seconds_per_fit": round(seconds / fits, 3),
            "seconds_per_epoch": round(sum(r.seconds for r in evaluation.runs) / fits / epochs, 4),
            "params": int(evaluation.runs[0].n_params), "ua": round(evaluation.summary()["ua"], 4)}

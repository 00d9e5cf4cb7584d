"""The pipeline end to end: corpus → embeddings → speaker-disjoint folds → reducer → head → metrics.

``qser evaluate --head quantum --qubits 8 --folds 5 --seeds 3 --json`` calls into this
module, and so do the dashboard's Train and Compare pages. One saved model (``qser train``)
lives in :mod:`qser_core.experiments.model`.

Every head sees the very same inputs: the same corpus rows, the same
speaker-disjoint folds (``config.data.split_seed``), the same reducer fitted on
each fold's training rows only, and the same seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, Corpus, Split, label_index, load_corpus, speaker_folds, split_by_speaker
from qser_core.errors import DataError
from qser_core.experiments.metrics import classification_metrics, mcnemar, mean_ci95, paired_bootstrap

__all__ = [
    "FeatureSet",
    "FoldRun",
    "Evaluation",
    "prepare",
    "fit_on_split",
    "pca_view",
    "evaluate",
    "compare",
    "compare_predictions",
    "predictions_record",
]

Progress = Callable[[int, int, str], None]


@dataclass
class FeatureSet:
    """A corpus with its cached backbone embeddings and integer emotion labels (row-aligned)."""

    corpus: Corpus
    embeddings: np.ndarray  # (n_clips, dim)
    labels: np.ndarray  # (n_clips,) indices into EMOTIONS

    @property
    def table(self):
        return self.corpus.table

    @property
    def speakers(self) -> np.ndarray:
        return self.corpus.table["speaker"].to_numpy()


def prepare(config: QserConfig, *, progress: Progress | None = None) -> FeatureSet:
    """Load the configured corpus and its embeddings (computed once, then read from the disk cache).

    Parameters
    ----------
    config : QserConfig
        Uses the ``data``, ``audio``, ``features`` and ``embedding`` sections.
    progress : callable, optional
        ``progress(done, total, message)`` during extraction.

    Returns
    -------
    FeatureSet
    """
    from qser_core.features.embeddings import extract_embeddings

    corpus = load_corpus(config.data)
    embeddings = extract_embeddings(corpus.table, config, progress=progress)
    labels = label_index(corpus.table["emotion"])
    return FeatureSet(corpus=corpus, embeddings=embeddings, labels=labels)


def pca_view(features: FeatureSet, config: QserConfig) -> dict[str, Any]:
    """What the reduction to qubit space looks like on the single speaker-disjoint split.

    The reducer is fitted on the training speakers only, as for the heads.

    Returns
    -------
    dict
        ``ratio`` and ``cumulative`` explained variance per component, ``scores`` (n_clips, <= 3) PCA
        scores before the angle scaling, ``angles`` (n_clips, n_qubits): what the circuit receives
        (scaled to [0, π] on the training rows, others clipped), ``clipped``: share of the angles of
        validation and test clips clipped at 0 or π, and per clip its ``emotion``, ``speaker`` and
        ``part`` (train / val / test); ``n_train`` and ``dim`` (embedding size).
    """
    from qser_core.features.reduce import QubitReducer

    d = config.data
    split = split_by_speaker(features.table, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                             seed=d.split_seed)
    reducer = QubitReducer(n_components=config.reduce.n_qubits).fit(features.embeddings[split.train])
    scores = reducer.pipeline_[:-1].transform(features.embeddings)  # before the angle scaling
    part = np.full(len(features.labels), "train", dtype=object)
    part[split.val], part[split.test] = "val", "test"
    ratio = np.asarray(reducer.explained_variance_ratio_, dtype=float)
    angles = reducer.transform(features.embeddings)
    held_out = angles[part != "train"]
    clipped = float(np.mean((held_out <= 0.0) | (held_out >= np.pi))) if held_out.size else 0.0
    return {
        "ratio": ratio, "cumulative": np.cumsum(ratio), "scores": scores[:, : min(3, scores.shape[1])],
        "angles": angles, "clipped": clipped,
        "emotion": [EMOTIONS[i] for i in features.labels], "speaker": features.table["speaker"].tolist(),
        "part": part.tolist(), "n_train": int(len(split.train)), "dim": int(features.embeddings.shape[1]),
    }


# ------------------------------------------------------------------ one head on one split
def fit_on_split(config: QserConfig, features: FeatureSet, split: Split, *, seed: int, callback=None, cancel=None,
                 reducer=None):
    """Fit the reducer on the split's training rows only, then the configured head.

    Parameters
    ----------
    reducer : QubitReducer, optional
        One already fitted on this split's training rows (it does not depend on the seed), reused as is.

    Returns
    -------
    reducer : QubitReducer
    head : ClassicalHead or QuantumHead
        Trained with early stopping on the split's validation rows.
    """
    from qser_core.heads.classical import make_head
    from qser_core.features.reduce import QubitReducer

    X, y = features.embeddings, features.labels
    if reducer is None:
        reducer = QubitReducer(n_components=config.reduce.n_qubits).fit(X[split.train])
    head = make_head(config.head, config.train, n_qubits=config.reduce.n_qubits, seed=seed)
    X_val = reducer.transform(X[split.val]) if len(split.val) else None
    y_val = y[split.val] if len(split.val) else None
    head.fit(reducer.transform(X[split.train]), y[split.train], X_val=X_val, y_val=y_val,
             callback=callback, cancel=cancel)
    return reducer, head


@dataclass
class FoldRun:
    """One head trained on one fold with one seed, scored on that fold's test speakers."""

    fold: int
    seed: int
    metrics: dict[str, Any]
    test_rows: np.ndarray
    y_pred: np.ndarray
    history: list = field(default_factory=list)
    n_params: int = 0
    seconds: float = 0.0
    cancelled: bool = False


@dataclass
class Evaluation:
    """Speaker-disjoint cross-validation of one head: folds × seeds."""

    config: QserConfig
    runs: list[FoldRun]
    labels: np.ndarray
    clip_names: list[str]
    n_speakers: int
    circuit: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def cancelled(self) -> bool:
        return any(r.cancelled for r in self.runs)

    def summary(self) -> dict[str, Any]:
        """Mean and 95% interval of UA, WA and macro-F1 over folds × seeds, plus what was compared."""
        out: dict[str, Any] = {"head": self.config.head.kind}
        for name in ("ua", "wa", "macro_f1"):
            mean, low, high = mean_ci95([r.metrics[name] for r in self.runs])
            out[name], out[f"{name}_ci95"] = mean, [low, high]
        record = self.predictions_record()
        first_seed = next(iter(record["y_pred"].values()))
        out.update(
            n_clips=int(len(self.labels)),
            n_speakers=self.n_speakers,
            folds=len({r.fold for r in self.runs}),
            seeds=sorted({r.seed for r in self.runs}),
            params=int(self.runs[0].n_params),
            n_qubits=self.config.reduce.n_qubits,
            backbone=self.config.embedding.backbone,
            dataset=self.config.data.dataset,
            confusion=classification_metrics(record["y_true"], first_seed)["confusion"],
            cancelled=self.cancelled,
            run_id=self.run_id,
        )
        if self.config.head.kind == "quantum":
            out.update(ansatz=self.config.head.ansatz, encoding=self.config.head.encoding,
                       n_layers=self.config.head.n_layers, **{f"circuit_{k}": v for k, v in self.circuit.items()})
        return out

    def predictions_record(self) -> dict[str, Any]:
        """Test predictions of every fold, pooled per seed, keyed by clip (what run records store)."""
        seeds = sorted({r.seed for r in self.runs})
        first = sorted((r for r in self.runs if r.seed == seeds[0]), key=lambda r: r.fold)
        rows = np.concatenate([r.test_rows for r in first])
        folds = np.concatenate([np.full(len(r.test_rows), r.fold) for r in first])
        preds = {}
        for s in seeds:
            runs = sorted((r for r in self.runs if r.seed == s), key=lambda r: r.fold)
            if [r.fold for r in runs] == [r.fold for r in first]:  # a cancelled seed with fewer folds is left out
                preds[s] = np.concatenate([r.y_pred for r in runs])
        return predictions_record([self.clip_names[i] for i in rows], self.labels[rows], preds, folds=folds)


def predictions_record(clips, y_true, y_pred_by_seed, *, folds=None) -> dict[str, Any]:
    """JSON-ready per-clip test predictions: what paired significance tests compare.

    Parameters
    ----------
    clips : sequence of str
        Clip file names, one per test row.
    y_true : array-like of int, shape (n,)
    y_pred_by_seed : dict of int to array-like, shape (n,)
    folds : array-like of int, shape (n,), optional
        The fold each clip was tested in (cross-validation); None for a single split.
    """
    record = {
        "clips": list(clips),
        "y_true": np.asarray(y_true).tolist(),
        "y_pred": {str(s): np.asarray(p).tolist() for s, p in y_pred_by_seed.items()},
        "labels": list(EMOTIONS),
    }
    if folds is not None:
        record["folds"] = np.asarray(folds).tolist()
    return record


def evaluate(
    config: QserConfig,
    *,
    features: FeatureSet | None = None,
    progress: Progress | None = None,
    callback: Callable | None = None,
    cancel=None,
    track: bool = True,
) -> Evaluation:
    """Cross-validate the head of ``config`` over speaker-disjoint folds and seeds.

    Parameters
    ----------
    config : QserConfig
        ``config.head.kind`` picks the head; ``config.data.n_folds`` and ``config.train.seeds`` the repeats.
    features : FeatureSet, optional
        Reuse prepared inputs (the dashboard compares several heads on one FeatureSet).
    progress : callable, optional
        ``progress(done, total, message)`` over extraction and then over fold × seed fits.
    callback : callable, optional
        ``callback(head_kind, fold, seed, epoch_log)`` after every epoch.
    cancel : qser_core.heads.training.CancelToken, optional
        Stops between batches; folds already finished are kept and the run is marked cancelled.
    track : bool, default=True
        Record the run with MLflow (:mod:`qser_core.tracking.recorder`): every epoch as it ends, then the
        summary, confusion matrix, per-clip predictions and speaker split.

    Returns
    -------
    Evaluation
    """
    features = features or prepare(config, progress=progress)
    folds = speaker_folds(features.table, n_folds=config.data.n_folds,
                          val_fraction=config.data.val_fraction, seed=config.data.split_seed)
    if not track:
        return _cross_validate(config, features, folds, progress, callback, cancel)
    from qser_core.tracking.recorder import track_run

    with track_run(config, run_type="evaluate") as recorder:
        def on_epoch(kind, fold, seed, log):
            recorder.log_epoch(log, prefix=f"fold{fold}/seed{seed}/")
            if callback:
                callback(kind, fold, seed, log)

        evaluation = _cross_validate(config, features, folds, progress, on_epoch, cancel)
        evaluation.run_id = recorder.run_id
        _record_evaluation(recorder, evaluation, folds, features)
    return evaluation


def _cross_validate(config, features, folds, progress, callback, cancel) -> Evaluation:
    seeds, kind, runs = config.train.seeds, config.head.kind, []
    total = len(folds) * len(seeds)
    reducers = {}  # one PCA per fold, shared by the seeds (it sees no seed)
    for s in seeds:  # seed-major: a cancelled evaluation keeps whole seeds, each over every fold
        for f, split in enumerate(folds):
            if cancel is not None and cancel.cancelled:
                break
            if progress:
                progress(len(runs), total, f"{kind}: seed {s}, fold {f + 1}/{len(folds)}")
            epoch_cb = (lambda log, f=f, s=s: callback(kind, f, s, log)) if callback else None
            start = time.perf_counter()
            reducer, head = fit_on_split(config, features, split, seed=s, callback=epoch_cb, cancel=cancel,
                                         reducer=reducers.get(f))
            reducers[f] = reducer
            y_pred = head.predict(reducer.transform(features.embeddings[split.test]))
            runs.append(FoldRun(
                fold=f, seed=s, test_rows=split.test, y_pred=y_pred,
                metrics=classification_metrics(features.labels[split.test], y_pred),
                history=list(head.history_.epochs), n_params=int(head.n_params_),
                seconds=time.perf_counter() - start, cancelled=bool(head.history_.cancelled),
            ))
    if progress:
        progress(total, total, f"{kind}: done")
    if not runs:
        from qser_core.errors import TrainingCancelled

        raise TrainingCancelled("evaluation was cancelled before any fold finished; nothing to report")
    return Evaluation(
        config=config, runs=runs, labels=features.labels,
        clip_names=[Path(p).name for p in features.table["path"]],
        n_speakers=int(features.table["speaker"].nunique()), circuit=_circuit_stats(config),
    )


def _circuit_stats(config: QserConfig) -> dict[str, Any]:
    if config.head.kind != "quantum":
        return {}
    from qser_core.heads.circuits import circuit_stats

    stats = circuit_stats(n_qubits=config.reduce.n_qubits, n_layers=config.head.n_layers,
                          encoding=config.head.encoding, ansatz=config.head.ansatz)
    return {k: v for k, v in stats.items() if k in ("depth", "two_qubit_gates", "circuit_params")}


def _record_evaluation(recorder, evaluation: Evaluation, folds: Sequence[Split], features: FeatureSet) -> None:
    summary = evaluation.summary()
    recorder.log_confusion(summary["confusion"], list(EMOTIONS))
    recorder.log_json("predictions.json", evaluation.predictions_record())
    recorder.log_json("folds.json", [
        {"fold": r.fold, "seed": r.seed, "seconds": r.seconds, **{k: v for k, v in r.metrics.items() if k != "confusion"}}
        for r in sorted(evaluation.runs, key=lambda r: (r.seed, r.fold))
    ])
    speakers = features.speakers
    recorder.log_split({f"fold{i}": {part: sorted(set(speakers[getattr(sp, part)].tolist()))
                                     for part in ("train", "val", "test")} for i, sp in enumerate(folds)})
    recorder.log_final({k: v for k, v in summary.items()
                        if isinstance(v, (int, float, list)) and k not in ("confusion", "seeds")})


def compare(a: Evaluation, b: Evaluation, *, metric: str = "ua", seed: int = 0) -> dict[str, Any]:
    """Paired significance tests between two heads evaluated on the same test clips and folds.

    See :func:`compare_predictions`; adds the two head kinds.
    """
    result = compare_predictions(a.predictions_record(), b.predictions_record(), metric=metric, seed=seed)
    return {"heads": [a.config.head.kind, b.config.head.kind], **result}


def compare_predictions(a: dict, b: dict, *, metric: str = "ua", seed: int = 0) -> dict[str, Any]:
    """McNemar and paired bootstrap between two prediction records on the clips both scored.

    Parameters
    ----------
    a, b : dict
        Records from :func:`predictions_record` (``Evaluation.predictions_record()`` or a recorded
        run's ``predictions.json``). Both must have scored the same clips; cross-validation records
        must also have tested each clip in the same fold (same ``data.n_folds`` and ``data.split_seed``).
    metric : {"ua", "wa", "macro_f1"}, default="ua"
        Metric of the bootstrap difference.
    seed : int, default=0
        Bootstrap resampling seed.

    Returns
    -------
    dict
        ``seed`` (the first training seed both records share), ``n_clips``, ``mcnemar``, ``bootstrap``.

    Raises
    ------
    DataError
        When the records differ in clips or folds, or share no training seed.
    """
    if sorted(a["clips"]) != sorted(b["clips"]) or len(set(a["clips"])) != len(a["clips"]):
        raise DataError("the two runs were not scored on the same test clips; use the same dataset, "
                        "data.n_folds and data.split_seed (and the same protocol) for both")
    order_a, order_b = np.argsort(a["clips"], kind="stable"), np.argsort(b["clips"], kind="stable")
    folds_a, folds_b = a.get("folds"), b.get("folds")
    if (folds_a is None) != (folds_b is None) or (
            folds_a is not None and not np.array_equal(np.asarray(folds_a)[order_a], np.asarray(folds_b)[order_b])):
        raise DataError("the two runs tested the clips in different folds (or one is a single split); use the "
                        "same data.n_folds and data.split_seed for both")
    common = [s for s in a["y_pred"] if s in b["y_pred"]]
    if not common:
        raise DataError(f"the runs share no training seed ({sorted(a['y_pred'])} vs {sorted(b['y_pred'])}); "
                        "run both with the same train.seeds")
    s = common[0]
    y_true = np.asarray(a["y_true"])[order_a]
    ya, yb = np.asarray(a["y_pred"][s])[order_a], np.asarray(b["y_pred"][s])[order_b]
    return {
        "seed": int(s),
        "n_clips": int(len(ya)),
        "mcnemar": mcnemar(y_true, ya, yb),
        "bootstrap": paired_bootstrap(y_true, ya, yb, metric=metric, seed=seed),
    }

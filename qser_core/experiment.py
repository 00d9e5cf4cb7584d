"""The pipeline end to end: corpus → embeddings → speaker-disjoint folds → reducer → head → metrics.

``qser evaluate --head quantum --qubits 8 --folds 5 --seeds 3 --json`` and
``qser train --head quantum --out models/q8`` call into this module, and so do the
dashboard's Train, Compare and Live demo pages.

Every head sees the very same inputs: the same corpus rows, the same
speaker-disjoint folds (``config.data.split_seed``), the same reducer fitted on
each fold's training rows only, and the same seeds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from qser_core.config import QserConfig
from qser_core.data import EMOTIONS, Corpus, Split, label_index, load_corpus, speaker_folds, split_by_speaker
from qser_core.errors import DataError
from qser_core.metrics import classification_metrics, mcnemar, mean_ci95, paired_bootstrap

__all__ = [
    "FeatureSet",
    "FoldRun",
    "Evaluation",
    "TrainedModel",
    "prepare",
    "evaluate",
    "compare",
    "train_model",
    "load_model",
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
    from qser_core.embeddings import extract_embeddings

    corpus = load_corpus(config.data)
    embeddings = extract_embeddings(corpus.table, config, progress=progress)
    labels = label_index(corpus.table["emotion"])
    return FeatureSet(corpus=corpus, embeddings=embeddings, labels=labels)


# ------------------------------------------------------------------ one head on one split
def _fit_on_split(config: QserConfig, features: FeatureSet, split: Split, *, seed: int, callback=None, cancel=None):
    """Fit reducer (training rows only) and head; returns (reducer, head)."""
    from qser_core.heads.classical import make_head
    from qser_core.reduce import QubitReducer

    X, y = features.embeddings, features.labels
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
        pooled = self.pooled_predictions()
        out.update(
            n_clips=int(len(self.labels)),
            n_speakers=self.n_speakers,
            folds=len({r.fold for r in self.runs}),
            seeds=sorted({r.seed for r in self.runs}),
            params=int(self.runs[0].n_params) if self.runs else 0,
            n_qubits=self.config.reduce.n_qubits,
            backbone=self.config.embedding.backbone,
            dataset=self.config.data.dataset,
            confusion=classification_metrics(pooled["y_true"], pooled["y_pred"][0])["confusion"] if self.runs else [],
            cancelled=self.cancelled,
            run_id=self.run_id,
        )
        if self.config.head.kind == "quantum":
            out.update(ansatz=self.config.head.ansatz, encoding=self.config.head.encoding,
                       n_layers=self.config.head.n_layers, **{f"circuit_{k}": v for k, v in self.circuit.items()})
        return out

    def pooled_predictions(self) -> dict[str, Any]:
        """Test predictions of every fold pooled per seed, rows in one fixed order (for paired tests)."""
        seeds = sorted({r.seed for r in self.runs})
        by_seed = {s: sorted((r for r in self.runs if r.seed == s), key=lambda r: r.fold) for s in seeds}
        first = by_seed[seeds[0]] if seeds else []
        rows = np.concatenate([r.test_rows for r in first]) if seeds else np.array([], int)
        folds = np.concatenate([np.full(len(r.test_rows), r.fold) for r in first]) if seeds else np.array([], int)
        order = np.argsort(rows, kind="stable")
        preds = [np.concatenate([r.y_pred for r in by_seed[s]])[order] for s in seeds]
        return {"rows": rows[order], "folds": folds[order], "y_true": self.labels[rows[order]],
                "y_pred": preds, "seeds": seeds}

    def predictions_record(self) -> dict[str, Any]:
        """JSON-ready pooled predictions keyed by clip file name (what run records store)."""
        pooled = self.pooled_predictions()
        return {
            "clips": [self.clip_names[i] for i in pooled["rows"]],
            "y_true": pooled["y_true"].tolist(),
            "y_pred": {str(s): p.tolist() for s, p in zip(pooled["seeds"], pooled["y_pred"])},
            "labels": list(EMOTIONS),
        }


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
    cancel : qser_core.train.CancelToken, optional
        Stops between batches; folds already finished are kept and the run is marked cancelled.
    track : bool, default=True
        Record the run with MLflow (:mod:`qser_core.tracking`).

    Returns
    -------
    Evaluation
    """
    features = features or prepare(config, progress=progress)
    folds = speaker_folds(features.table, n_folds=config.data.n_folds,
                          val_fraction=config.data.val_fraction, seed=config.data.split_seed)
    if track:
        from qser_core.tracking import track_run

        with track_run(config, run_type="evaluate") as recorder:
            evaluation = _cross_validate(config, features, folds, progress, callback, cancel)
            evaluation.run_id = recorder.run_id
            _record_evaluation(recorder, evaluation, folds, features)
        return evaluation
    return _cross_validate(config, features, folds, progress, callback, cancel)


def _cross_validate(config, features, folds, progress, callback, cancel) -> Evaluation:
    seeds = config.train.seeds
    total, runs = len(folds) * len(seeds), []
    kind = config.head.kind
    for f, split in enumerate(folds):
        for s in seeds:
            if cancel is not None and cancel.cancelled:
                break
            if progress:
                progress(len(runs), total, f"{kind}: fold {f + 1}/{len(folds)}, seed {s}")
            epoch_cb = (lambda log, f=f, s=s: callback(kind, f, s, log)) if callback else None
            start = time.perf_counter()
            reducer, head = _fit_on_split(config, features, split, seed=s, callback=epoch_cb, cancel=cancel)
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
    runs = sorted(evaluation.runs, key=lambda r: (r.seed, r.fold))
    first = runs[0]
    for log in first.history:  # the curves of the first fold and seed
        recorder.log_epoch(log)
    summary = evaluation.summary()
    recorder.log_confusion(summary["confusion"], list(EMOTIONS))
    recorder.log_json("predictions.json", evaluation.predictions_record())
    recorder.log_json("folds.json", [
        {"fold": r.fold, "seed": r.seed, "seconds": r.seconds, **{k: v for k, v in r.metrics.items() if k != "confusion"}}
        for r in runs
    ])
    speakers = features.speakers
    recorder.log_split({f"fold{i}": {part: sorted(set(speakers[getattr(sp, part)].tolist()))
                                     for part in ("train", "val", "test")} for i, sp in enumerate(folds)})
    recorder.log_final({k: v for k, v in summary.items()
                        if isinstance(v, (int, float, list)) and k not in ("confusion", "seeds")})


def compare(a: Evaluation, b: Evaluation, *, metric: str = "ua", seed: int = 0) -> dict[str, Any]:
    """Paired significance tests between two heads evaluated on the same test clips.

    Both evaluations must come from the same corpus and folds. Predictions are pooled over
    folds; with several seeds, the first seed common to both is compared.

    Returns
    -------
    dict
        ``mcnemar`` and ``bootstrap`` results, ``n_clips``, the two heads and the seed used.
    """
    pa, pb = a.pooled_predictions(), b.pooled_predictions()
    same = len(pa["rows"]) == len(pb["rows"]) and np.array_equal(pa["rows"], pb["rows"])
    if not same or not np.array_equal(pa["folds"], pb["folds"]):
        raise DataError("the two evaluations were not scored on the same test clips with the same folds; "
                        "use the same dataset, data.n_folds and data.split_seed for both")
    common = [s for s in pa["seeds"] if s in pb["seeds"]]
    if not common:
        raise DataError(f"the evaluations share no seed (seeds {pa['seeds']} vs {pb['seeds']}); run both with one seed list")
    s = common[0]
    ya, yb = pa["y_pred"][pa["seeds"].index(s)], pb["y_pred"][pb["seeds"].index(s)]
    return {
        "heads": [a.config.head.kind, b.config.head.kind],
        "seed": s,
        "n_clips": int(len(ya)),
        "mcnemar": mcnemar(pa["y_true"], ya, yb),
        "bootstrap": paired_bootstrap(pa["y_true"], ya, yb, metric=metric, seed=seed),
    }


# ------------------------------------------------------------------ one saved model
@dataclass
class TrainedModel:
    """A reducer and a head trained on the single speaker-disjoint split, ready to predict clips."""

    config: QserConfig
    reducer: Any
    head: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list = field(default_factory=list)
    split_speakers: dict[str, list[str]] = field(default_factory=dict)
    run_id: str | None = None

    def save(self, folder: str | Path) -> Path:
        """Write ``config.toml``, ``model.joblib`` (reducer + head), ``metrics.json`` into ``folder``."""
        import joblib

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(self.config.to_toml(), encoding="utf-8")
        tmp = folder / "model.joblib.tmp"
        joblib.dump({"reducer": self.reducer, "head": self.head}, tmp)
        tmp.replace(folder / "model.joblib")
        record = {"metrics": self.metrics, "split_speakers": self.split_speakers, "run_id": self.run_id,
                  "history": [_as_dict(h) for h in self.history]}
        (folder / "metrics.json").write_text(json.dumps(record, indent=1, default=float), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "TrainedModel":
        """Read a folder written by :meth:`save` (only load models you trust: it unpickles)."""
        import joblib

        folder = Path(folder)
        if not (folder / "model.joblib").is_file() or not (folder / "config.toml").is_file():
            raise DataError(f"{folder} holds no saved model (config.toml + model.joblib); "
                            "train one with `qser train --out DIR`")
        parts = joblib.load(folder / "model.joblib")
        record = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        return cls(config=QserConfig.from_toml(folder / "config.toml"), reducer=parts["reducer"], head=parts["head"],
                   metrics=record.get("metrics", {}), history=record.get("history", []),
                   split_speakers=record.get("split_speakers", {}), run_id=record.get("run_id"))

    def embed(self, y_or_path) -> np.ndarray:
        """Backbone embedding (1, dim) of one waveform at ``config.audio.sr`` or one audio file."""
        from qser_core.embeddings import embed_waveforms

        waveform = self._waveform(y_or_path)
        return embed_waveforms(waveform[None, :], self.config)

    def angles(self, y_or_path) -> np.ndarray:
        """Rotation angles (n_qubits,) that the quantum head encodes for one clip."""
        return self.reducer.transform(self.embed(y_or_path))[0]

    def predict_proba(self, y_or_path) -> dict[str, float]:
        """Probability of each emotion for one clip (waveform at ``config.audio.sr``, path or file-like)."""
        proba = self.head.predict_proba(self.angles(y_or_path)[None, :])[0]
        return {emotion: float(p) for emotion, p in zip(EMOTIONS, proba)}

    def _waveform(self, y_or_path) -> np.ndarray:
        from qser_core.audio import audio_kwargs, fix_length, load_audio

        if isinstance(y_or_path, np.ndarray):
            return fix_length(y_or_path.astype(np.float32), sr=self.config.audio.sr,
                              duration=self.config.audio.duration, top_db=self.config.audio.top_db)
        return load_audio(y_or_path, **audio_kwargs(self.config.audio))


def load_model(folder: str | Path) -> TrainedModel:
    """Shorthand for :meth:`TrainedModel.load`."""
    return TrainedModel.load(folder)


def train_model(
    config: QserConfig,
    *,
    features: FeatureSet | None = None,
    progress: Progress | None = None,
    callback: Callable | None = None,
    cancel=None,
    track: bool = True,
) -> TrainedModel:
    """Train one head on the single speaker-disjoint train/validation/test split and score it on test.

    Parameters
    ----------
    config : QserConfig
    features : FeatureSet, optional
        Reuse prepared inputs.
    progress : callable, optional
        ``progress(done, total, message)`` during extraction.
    callback : callable, optional
        ``callback(epoch_log)`` after every epoch (the dashboard's live curves).
    cancel : qser_core.train.CancelToken, optional
        Stops between batches; the best model so far is kept and scored.
    track : bool, default=True
        Record the run with MLflow.

    Returns
    -------
    TrainedModel
    """
    features = features or prepare(config, progress=progress)
    split = split_by_speaker(features.table, val_fraction=config.data.val_fraction,
                             test_fraction=config.data.test_fraction, seed=config.data.split_seed)
    seed = config.train.seeds[0]
    if not track:
        return _train_on_split(config, features, split, seed, callback, cancel)
    from qser_core.tracking import track_run

    with track_run(config, run_type="train") as recorder:
        model = _train_on_split(config, features, split, seed, callback, cancel)
        model.run_id = recorder.run_id
        for log in model.history:
            recorder.log_epoch(log)
        recorder.log_split(model.split_speakers)
        recorder.log_confusion(model.metrics["confusion"], list(EMOTIONS))
        recorder.log_final({k: v for k, v in model.metrics.items() if k != "confusion"})
    return model


def _train_on_split(config, features, split, seed, callback, cancel) -> TrainedModel:
    reducer, head = _fit_on_split(config, features, split, seed=seed, callback=callback, cancel=cancel)
    y_pred = head.predict(reducer.transform(features.embeddings[split.test]))
    metrics = classification_metrics(features.labels[split.test], y_pred)
    metrics.update(params=int(head.n_params_), n_test=int(len(split.test)), cancelled=bool(head.history_.cancelled))
    speakers = features.speakers
    parts = {part: sorted(set(speakers[getattr(split, part)].tolist())) for part in ("train", "val", "test")}
    return TrainedModel(config=config, reducer=reducer, head=head, metrics=metrics,
                        history=list(head.history_.epochs), split_speakers=parts)


def _as_dict(log) -> dict[str, Any]:
    if isinstance(log, dict):
        return log
    from dataclasses import asdict

    return asdict(log)

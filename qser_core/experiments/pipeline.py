"""The pipeline layer under every protocol: features, speaker-disjoint splits, reducer + head on a split, records.

The protocols (:mod:`~qser_core.experiments.protocols.single`, :mod:`~qser_core.experiments.protocols.crossval`,
:mod:`~qser_core.experiments.protocols.hybrid`) are built from these pieces and import nothing of each other:

1. :func:`prepare` — corpus + cached backbone embeddings + labels (a picklable :class:`FeatureSet`);
2. :func:`single_split` / :func:`cross_val_folds` — the speaker-disjoint parts a config asks for;
3. :func:`fit_on_split` — the reducer fitted on the split's training rows only, then the head,
   early-stopped on the validation rows;
4. :func:`predictions_record` — per-clip test predictions, what paired tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, Corpus, Split, label_index, load_corpus, speaker_folds, split_by_speaker
from qser_core.progress import Progress, RunContext

__all__ = [
    "FeatureSet",
    "prepare",
    "single_split",
    "cross_val_folds",
    "split_speakers",
    "fit_reducer",
    "fit_on_split",
    "predictions_record",
    "pca_view",
]


@dataclass
class FeatureSet:
    """A corpus with its cached backbone embeddings and integer emotion labels (row-aligned; picklable).

    Attributes
    ----------
    corpus : Corpus
    embeddings : np.ndarray [shape=(n_clips, dim)]
    labels : np.ndarray [shape=(n_clips,)]
        Indices into ``EMOTIONS``.
    """

    corpus: Corpus
    embeddings: np.ndarray
    labels: np.ndarray

    @property
    def table(self):
        return self.corpus.table

    @property
    def speakers(self) -> np.ndarray:
        return self.corpus.table["speaker"].astype(str).to_numpy()

    @property
    def clip_ids(self) -> list[str]:
        """File name of each clip: the key of prediction records."""
        return [Path(p).name for p in self.corpus.table["path"]]


def prepare(config: QserConfig, *, progress: Progress | None = None) -> FeatureSet:
    """Load the configured corpus and its embeddings (computed once, then read from the disk cache).

    Parameters
    ----------
    config : QserConfig
        Uses the ``data``, ``audio``, ``features`` and ``embedding`` sections.
    progress : Progress, optional
        ``progress(done, total, message)`` during extraction.

    Returns
    -------
    FeatureSet
    """
    from qser_core.features.embeddings import extract_corpus

    # extract_corpus drops clips that fail to decode and adds them to the corpus report
    corpus, embeddings = extract_corpus(load_corpus(config.data, max_seconds=config.audio.max_seconds), config,
                                        progress=progress)
    return FeatureSet(corpus=corpus, embeddings=embeddings, labels=label_index(corpus.table["emotion"]))


# ------------------------------------------------------------------ splits
def single_split(config: QserConfig, features: FeatureSet) -> Split:
    """The one train/validation/test split of ``config.data`` (fractions are shares of speakers)."""
    d = config.data
    return split_by_speaker(features.table, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                            seed=d.split_seed)


def cross_val_folds(config: QserConfig, features: FeatureSet) -> list[Split]:
    """The ``config.data.n_folds`` speaker-disjoint cross-validation folds."""
    d = config.data
    return speaker_folds(features.table, n_folds=d.n_folds, val_fraction=d.val_fraction, seed=d.split_seed)


def split_speakers(features: FeatureSet, split: Split) -> dict[str, list[str]]:
    """The speakers of each part, ``{"train"|"val"|"test": sorted speakers}`` (what run records store)."""
    speakers = features.speakers
    return {part: sorted(set(speakers[getattr(split, part)].tolist())) for part in ("train", "val", "test")}


# ------------------------------------------------------------------ reducer + head
def fit_reducer(config: QserConfig, features: FeatureSet, split: Split):
    """A :class:`~qser_core.features.reduce.QubitReducer` fitted on the split's training rows only."""
    from qser_core.features.reduce import QubitReducer

    train = split.train  # labels too: reduce.method=pls is supervised (training labels only)
    return QubitReducer(n_components=config.reduce.n_qubits, method=config.reduce.method).fit(
        features.embeddings[train], features.labels[train])


def fit_on_split(config: QserConfig, features: FeatureSet, split: Split, *, seed: int,
                 context: RunContext | None = None, reducer=None):
    """Fit the reducer on the split's training rows only, then the configured head.

    Parameters
    ----------
    config : QserConfig
        ``reduce``, ``head`` and ``train`` sections.
    features : FeatureSet
    split : Split
    seed : int
        Seeds the head's weights and minibatch order.
    context : RunContext, optional
        ``epoch`` and ``trial`` events of the tuning search (:func:`~qser_core.experiments.tuning.fit_tuned`);
        its cancel token stops between batches and the best weights so far are kept.
    reducer : QubitReducer, optional
        One already fitted on this split's training rows (:func:`fit_reducer`; it does not depend on
        the seed or the head), reused as is.

    Returns
    -------
    reducer : QubitReducer
    head : ClassicalHead or QuantumHead
        Trained with early stopping on the split's validation rows; the best of the
        :mod:`~qser_core.experiments.tuning` search on those rows, with ``head.tuning_``
        (a :class:`~qser_core.experiments.tuning.Tuning`: what was tried and chosen).
    """
    from qser_core.experiments.tuning import fit_tuned

    X, y = features.embeddings, features.labels
    reducer = reducer if reducer is not None else fit_reducer(config, features, split)
    has_val = len(split.val) > 0
    head, tuning = fit_tuned(config, reducer.transform(X[split.train]), y[split.train],
                             X_val=reducer.transform(X[split.val]) if has_val else None,
                             y_val=y[split.val] if has_val else None, seed=seed, context=context)
    head.tuning_ = tuning
    return reducer, head


# ------------------------------------------------------------------ records
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
    split = single_split(config, features)
    reducer = fit_reducer(config, features, split)
    scores = reducer.scores(features.embeddings)
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

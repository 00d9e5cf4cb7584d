"""The hybrid experiment: train backbone tail → reduction → PQC end to end against the frozen head.

``qser hybrid --set train.trainable_blocks=1 --set reduce.n_qubits=8`` and the dashboard's Train
page (protocol "hybrid") run :func:`train_hybrid`; the model itself is in :mod:`qser_core.experiments.models.hybrid_network`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, drop_unusable, label_index, load_corpus
from qser_core.errors import DataError
from qser_core.experiments.models.hybrid_network import (
    REDUCTION_LR_SCALE,
    TAIL_LR_SCALE,
    HybridModel,
    check_hybrid_config,
    front_activations,
    learning_rate_scales,
    predict_in_batches,
)
from qser_core.experiments.metrics import classification_metrics
from qser_core.experiments.pipeline import FeatureSet, fit_on_split, single_split, split_speakers
from qser_core.heads.training import EpochLog, fit_module, seed_everything
from qser_core.experiments.protocols.setup import protocol_run
from qser_core.progress import Event, RunContext

__all__ = ["HybridResult", "train_hybrid"]


# --------------------------------------------------------------------------------- result
class _FlatInput(nn.Module):
    """Adapter for :func:`fit_module`, which takes 2-D inputs: rows are flattened front activations."""

    def __init__(self, model: HybridModel, shape: tuple[int, ...]):
        super().__init__()
        self.model, self.shape = model, tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(len(x), *self.shape))


@dataclass
class HybridResult:
    """The hybrid model trained on the single split, next to the frozen-backbone quantum head.

    Attributes
    ----------
    config : QserConfig
        As run (``head.kind`` is ``"quantum"``).
    model : HybridModel
        Best-validation weights, eval mode.
    reducer : QubitReducer
        Fitted on the training rows; initialised the model's reduction and fed the baseline.
    metrics, baseline_metrics : dict
        Test ``wa, ua, macro_f1, confusion, params, n_test`` of the hybrid model and of the
        frozen-backbone quantum head (same split, seed and reducer).
    history, baseline_history : list of EpochLog
    n_params, baseline_params : int
        Trainable parameters.
    seconds : float
        Whole run; ``front_seconds`` of it computed the frozen activations.
    split_speakers : dict
        ``{"train"|"val"|"test": [speakers]}``.
    cancelled : bool
        A cancel token stopped the hybrid training (best weights so far kept and scored).
    run_id : str or None
        MLflow run.
    tuning : Tuning or None
        The frozen head's search on the validation speakers; the hybrid starts from its choice
        (layers, learning rate, penalty), so both differ only in what is trained.
    corpus_report : IndexReport or None
        What indexing and the frozen front left out (``skipped`` lists each clip with its reason).
    """

    config: QserConfig
    model: HybridModel
    reducer: Any
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    history: list[EpochLog] = field(default_factory=list)
    baseline_history: list[EpochLog] = field(default_factory=list)
    n_params: int = 0
    baseline_params: int = 0
    seconds: float = 0.0
    front_seconds: float = 0.0
    split_speakers: dict[str, list[str]] = field(default_factory=dict)
    cancelled: bool = False
    run_id: str | None = None
    tuning: Any = None
    corpus_report: Any = None

    @property
    def gain(self) -> dict[str, float]:
        """Hybrid minus frozen baseline, for ``ua``, ``wa`` and ``macro_f1`` (test speakers)."""
        return {k: self.metrics[k] - self.baseline_metrics[k] for k in ("ua", "wa", "macro_f1")}

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``qser hybrid --json`` prints)."""
        keep = ("ua", "wa", "macro_f1", "params", "n_test")
        return {
            "hybrid": {k: self.metrics[k] for k in keep},
            "frozen": {k: self.baseline_metrics[k] for k in keep},
            "gain": self.gain,
            "backbone": self.config.embedding.backbone,
            "trainable_blocks": self.config.train.trainable_blocks,
            "n_qubits": self.config.reduce.n_qubits,
            "encoding": self.config.head.encoding, "ansatz": self.config.head.ansatz,
            "n_layers": self.model.quantum.spec.n_layers,
            "tuning": self.tuning.as_dict() if self.tuning is not None else None,
            "epochs": len(self.history), "best_epoch": _best_epoch(self.history),
            "baseline_epochs": len(self.baseline_history),
            "seconds": self.seconds, "front_seconds": self.front_seconds,
            "cancelled": self.cancelled, "run_id": self.run_id,
            "n_clips": self.corpus_report.n_clips if self.corpus_report else None,
            "skipped": [list(s) for s in self.corpus_report.skipped] if self.corpus_report else [],
            "confusion": self.metrics["confusion"], "labels": list(EMOTIONS),
        }


def _best_epoch(history: list[EpochLog]) -> int:
    scores = [e.val_ua if np.isfinite(e.val_ua) else -e.train_loss for e in history]
    return int(np.argmax(scores)) + 1 if scores else 0


# ----------------------------------------------------------------------------- experiment
def train_hybrid(
    config: QserConfig,
    *,
    features=None,
    context: RunContext | None = None,
    warm_start: bool = True,
) -> HybridResult:
    """Train the hybrid model on the single speaker-disjoint split and compare it with the frozen head.

    Parameters
    ----------
    config : QserConfig
        ``data`` (corpus, split fractions and seed), ``audio``, ``features``, ``embedding.backbone``
        (one of :data:`HYBRID_BACKBONES`), ``reduce.n_qubits``, ``head`` (circuit; ``head.kind`` is
        taken as ``"quantum"``), ``train`` (epochs, lr, batch size, patience, weight decay,
        ``seeds[0]``, ``trainable_blocks``).
    features : FeatureSet or None, default=None
        Reuse a prepared corpus (:func:`~qser_core.experiments.pipeline.prepare`); its embeddings feed the reducer and the
        baseline. ``None``: the corpus is loaded and its embeddings come from the frozen
        activations (no separate extraction pass).
    context : RunContext or None, default=None
        ``progress(done, total, message)``: clips through the frozen front, then the two fits.
        A ``stage`` event as each stage starts and an ``epoch`` event after every epoch, their
        ``stage`` ``"frozen"`` (baseline) or ``"hybrid"``. The cancel token stops between batches:
        once the hybrid model finished an epoch, its best weights so far are kept and scored
        (``HybridResult.cancelled``); earlier, :class:`TrainingCancelled`. With ``track`` (the
        default) the run is recorded with MLflow (``run_type="hybrid"``), each epoch as it ends.
    warm_start : bool, default=True
        Start the PQC and readout from the trained baseline head (the hybrid model then begins
        where the frozen pipeline ended); ``False``: fresh circuit weights from the seed.

    Returns
    -------
    HybridResult

    Raises
    ------
    BackendError
        The run store cannot be used (checked before any work).
    ConfigError
        The backbone has no trainable blocks.
    DataError
        Too few speakers for a train/validation/test split, or ``features`` not matching the corpus.
    TrainingCancelled
        Cancelled before the hybrid model finished one epoch.

    Examples
    --------
    >>> result = train_hybrid(QserConfig().with_overrides(["train.epochs=20"]))  # doctest: +SKIP
    >>> result.summary()["hybrid"]["ua"], result.summary()["frozen"]["ua"]  # doctest: +SKIP
    (0.43, 0.33)
    """
    check_hybrid_config(config)
    if config.head.kind != "quantum":
        config = config.replace("head", kind="quantum")
    context = RunContext.of(context).child(head="quantum", seed=int(config.train.seeds[0]))
    # no inputs prepared: without `features` the embeddings come from the frozen activations computed anyway
    with protocol_run(config, context, run_type="hybrid", features=features, prepare_features=False,
                      epoch_prefix=lambda e: "frozen/" if e.stage == "frozen" else "") as run:
        result = _run(config, features, run.context, warm_start)
        result.run_id = run.recorder.run_id
        _record(run.recorder, result)
    return result


def _run(config, features, context: RunContext, warm_start) -> HybridResult:
    t_start = time.perf_counter()
    from qser_core.features.backbones import get_backbone

    backbone = get_backbone(config.embedding.backbone, features=config.features)
    if features is not None and features.embeddings.shape != (len(features.table), backbone.dim):
        raise DataError(f"features.embeddings has shape {features.embeddings.shape}; the corpus has "
                        f"{len(features.table)} clips and {backbone.name} gives {backbone.dim} dims; "
                        "prepare the features with this config")
    corpus, H, keep = _usable_front(config, features, context)
    front_seconds = time.perf_counter() - t_start
    table = corpus.table
    seed = int(config.train.seeds[0])
    k = config.train.trainable_blocks
    if features is not None:
        embeddings, labels = features.embeddings[keep], features.labels[keep]
    else:
        embeddings = predict_in_batches(lambda h: backbone.trainable_part(h, trainable_blocks=k), H).numpy()
        labels = label_index(table["emotion"])

    # The frozen baseline: reducer on training rows + quantum head (what `qser train` does).
    frozen, hybrid = context.child(stage="frozen"), context.child(stage="hybrid")
    context.report(0, 2, "frozen-backbone quantum head")
    frozen.emit(Event("stage"))
    fs = FeatureSet(corpus=corpus, embeddings=embeddings, labels=labels)
    split = single_split(config, fs)
    reducer, head = fit_on_split(config, fs, split, seed=seed, context=frozen)
    base_pred = head.predict(reducer.transform(embeddings[split.test]))
    baseline_metrics = classification_metrics(labels[split.test], base_pred)
    baseline_metrics.update(params=int(head.n_params_), n_test=int(len(split.test)))

    # The hybrid model, from that reducer (and head), trained end to end on the front activations.
    context.report(1, 2, f"hybrid model (last {k} block(s) + reduction + PQC)")
    hybrid.emit(Event("stage"))
    seed_everything(seed)
    # The hybrid takes what the search chose for the frozen head (layers, learning rate, penalty): the
    # warm start needs its circuit shape, and the comparison then differs only in what is trained.
    tuned = head.tuning_.applied(config)
    model = HybridModel.from_config(tuned, reducer, head=head if warm_start else None)
    flat = lambda rows: H[rows].reshape(len(rows), -1)  # noqa: E731  (fit_module takes 2-D inputs)
    has_val = len(split.val) > 0
    t = tuned.train
    with learning_rate_scales([(model.tail_modules(), TAIL_LR_SCALE), ([model.reduction], REDUCTION_LR_SCALE)]):
        history = fit_module(
            _FlatInput(model, H.shape[1:]), flat(split.train), labels[split.train],
            X_val=flat(split.val) if has_val else None, y_val=labels[split.val] if has_val else None,
            epochs=t.epochs, lr=t.lr, batch_size=t.batch_size, patience=t.patience, weight_decay=t.weight_decay,
            seed=seed, context=hybrid,
        )
    model.eval()
    pred = predict_in_batches(model, H[split.test]).argmax(1).numpy()
    metrics = classification_metrics(labels[split.test], pred)
    n_params = model.n_trainable()
    metrics.update(params=n_params, n_test=int(len(split.test)))
    context.report(2, 2, "done")

    return HybridResult(
        config=config, model=model, reducer=reducer, metrics=metrics, baseline_metrics=baseline_metrics,
        history=list(history.epochs), baseline_history=list(head.history_.epochs), n_params=n_params,
        baseline_params=int(head.n_params_), seconds=time.perf_counter() - t_start, front_seconds=front_seconds,
        split_speakers=split_speakers(fs, split), cancelled=bool(history.cancelled), tuning=head.tuning_,
        corpus_report=corpus.report,
    )


def _usable_front(config, features, context: RunContext):
    """``(corpus, H, keep)``: the usable clips, their frozen-front activations, and which input rows they are.

    Clips the front cannot decode are skipped one by one and join the corpus report, exactly as
    in embedding extraction (:func:`~qser_core.data.corpus.drop_unusable`); ``keep`` subsets
    arrays aligned with the input corpus (``features.embeddings``).
    """
    corpus = features.corpus if features is not None else \
        load_corpus(config.data, max_seconds=config.audio.max_seconds)
    H, bad = front_activations(corpus.table, config, context=context, errors="skip")
    corpus, keep = drop_unusable(corpus, bad)
    return corpus, H, keep


def _record(recorder, result: HybridResult) -> None:
    if not recorder.enabled:  # the epochs were logged as they ended (frozen/ for the baseline's)
        return
    recorder.log_split(result.split_speakers)
    if result.corpus_report is not None:
        recorder.log_corpus(result.corpus_report)
    recorder.log_confusion(result.metrics["confusion"], list(EMOTIONS))
    recorder.log_confusion(result.baseline_metrics["confusion"], list(EMOTIONS), name="confusion_frozen")
    drop = ("confusion",)
    recorder.log_final({
        **{k: v for k, v in result.metrics.items() if k not in drop},
        "frozen": {k: v for k, v in result.baseline_metrics.items() if k not in drop},
        "gain": result.gain,
        "trainable_blocks": result.config.train.trainable_blocks,
        # "run_seconds", not "seconds": that is also an epoch field, and a final value at step 0 read back as epoch 0
        "cancelled": result.cancelled, "run_seconds": result.seconds, "front_seconds": result.front_seconds,
    })

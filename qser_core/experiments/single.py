"""Single-split training: one head on the speaker-disjoint train/validation/test split, scored on test.

``qser train --head quantum --out models/q8`` and the dashboard's quick Train protocol run
:func:`train_model`; the result is a :class:`~qser_core.experiments.model.TrainedModel`.
"""

from __future__ import annotations

import tempfile
from typing import Callable

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, Split
from qser_core.experiments.metrics import classification_metrics
from qser_core.experiments.model import TrainedModel
from qser_core.experiments.pipeline import (
    FeatureSet,
    fit_on_split,
    predictions_record,
    prepare,
    single_split,
    split_speakers,
)
from qser_core.progress import CancelToken, Progress

__all__ = ["train_model"]


def train_model(
    config: QserConfig,
    *,
    features: FeatureSet | None = None,
    progress: Progress | None = None,
    callback: Callable | None = None,
    cancel: CancelToken | None = None,
    track: bool = True,
    reducer=None,
    on_trial: Callable | None = None,
) -> TrainedModel:
    """Train one head on the single speaker-disjoint train/validation/test split and score it on test.

    Parameters
    ----------
    config : QserConfig
        The head of ``config.head.kind`` is trained with the first of ``config.train.seeds``.
    features : FeatureSet, optional
        Reuse prepared inputs.
    progress : Progress, optional
        ``progress(done, total, message)`` during extraction.
    callback : callable, optional
        ``callback(epoch_log)`` after every epoch (the dashboard's live curves).
    cancel : CancelToken, optional
        Stops between batches; the best model so far is kept and scored.
    track : bool, default=True
        Record the run with MLflow: each epoch as it ends, then the test metrics, confusion matrix,
        per-clip predictions, speaker split and the saved model as an artefact.
    reducer : QubitReducer, optional
        Already fitted on this split's training rows (shared by the heads of one comparison).
    on_trial : callable, optional
        ``on_trial(SearchEvent)`` live while the tuning search runs (candidate, epoch, best validation UA):
        the Train page's view of the search. ``callback`` gets the chosen candidate's epochs at its end.

    Returns
    -------
    TrainedModel
    """
    from qser_core.tracking.recorder import check_store, track_run

    check_store(enabled=track)  # a store fault stops us here, not after the work
    features = features or prepare(config, progress=progress)
    split = single_split(config, features)
    with track_run(config, run_type="train", enabled=track) as recorder:
        def on_epoch(log):
            recorder.log_epoch(log)
            if callback:
                callback(log)

        model = _train_on_split(config, features, split, on_epoch, cancel, reducer, on_trial)
        model.run_id = recorder.run_id
        recorder.log_corpus(features.corpus.report)
        recorder.set_outcome_from(model.head.history_, epochs=config.train.epochs,
                                  tuning=getattr(model.head, "tuning_", None))
        _record(recorder, model)
    return model


def _train_on_split(config: QserConfig, features: FeatureSet, split: Split, callback, cancel,
                    reducer, on_trial=None) -> TrainedModel:
    seed = config.train.seeds[0]
    reducer, head = fit_on_split(config, features, split, seed=seed, callback=callback, cancel=cancel,
                                 reducer=reducer, on_trial=on_trial)
    y_pred = head.predict(reducer.transform(features.embeddings[split.test]))
    y_true = features.labels[split.test]
    metrics = classification_metrics(y_true, y_pred)
    metrics.update(params=int(head.n_params_), n_test=int(len(split.test)), cancelled=bool(head.history_.cancelled))
    ids = features.clip_ids
    return TrainedModel(config=config, reducer=reducer, head=head, metrics=metrics,
                        history=list(head.history_.epochs), split_speakers=split_speakers(features, split),
                        predictions=predictions_record([ids[i] for i in split.test], y_true, {seed: y_pred}))


def _record(recorder, model: TrainedModel) -> None:
    if not recorder.enabled:  # the model is saved to a temporary folder only to be recorded
        return
    recorder.log_split(model.split_speakers)
    recorder.log_confusion(model.metrics["confusion"], list(EMOTIONS))
    recorder.log_json("predictions.json", model.predictions)
    tuning = getattr(model.head, "tuning_", None)
    if tuning is not None:
        recorder.log_json("tuning.json", tuning.as_dict())
    with tempfile.TemporaryDirectory(prefix="qser-model-") as folder:
        recorder.log_artifacts(model.save(folder))
    recorder.log_final({k: v for k, v in model.metrics.items() if k != "confusion"})

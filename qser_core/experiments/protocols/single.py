"""Single-split training: one head on the speaker-disjoint train/validation/test split, scored on test.

``qser train --head quantum --out models/q8`` and the dashboard's quick Train protocol run
:func:`train_model`; the result is a :class:`~qser_core.experiments.models.trained.TrainedModel`.
"""

from __future__ import annotations

import tempfile
from functools import partial

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, Split
from qser_core.experiments.metrics import classification_metrics
from qser_core.experiments.models.trained import TrainedModel
from qser_core.experiments.pipeline import (
    FeatureSet,
    fit_on_split,
    predictions_record,
    single_split,
    split_speakers,
)
from qser_core.experiments.protocols.setup import protocol_run
from qser_core.progress import RunContext

__all__ = ["train_model"]


def train_model(
    config: QserConfig,
    *,
    features: FeatureSet | None = None,
    context: RunContext | None = None,
    reducer=None,
) -> TrainedModel:
    """Train one head on the single speaker-disjoint train/validation/test split and score it on test.

    Parameters
    ----------
    config : QserConfig
        The head of ``config.head.kind`` is trained with the first of ``config.train.seeds``.
    features : FeatureSet, optional
        Reuse prepared inputs.
    context : RunContext, optional
        ``progress`` during extraction; ``epoch`` events (the dashboard's live curves) and ``trial``
        events of the tuning search (candidate, epoch, best validation UA), scoped with the head and
        seed (the chosen candidate's epochs come at the search's end); the cancel token stops between
        batches, and the best model so far is kept and scored. With ``track`` (the default) the run is
        recorded with MLflow: each epoch as it ends, then the test metrics, confusion matrix, per-clip
        predictions, speaker split and the saved model as an artefact.
    reducer : QubitReducer, optional
        Already fitted on this split's training rows (shared by the heads of one comparison).

    Returns
    -------
    TrainedModel
    """
    context = RunContext.of(context).child(head=config.head.kind, seed=int(config.train.seeds[0]))
    with protocol_run(config, context, run_type="train", features=features, plan=partial(single_split, config)) as run:
        features, recorder = run.features, run.recorder
        model = _train_on_split(config, features, run.plan, run.context, reducer)
        model.run_id = recorder.run_id
        recorder.log_corpus(features.corpus.report)
        recorder.set_outcome_from(model.head.history_, epochs=config.train.epochs,
                                  tuning=getattr(model.head, "tuning_", None))
        _record(recorder, model)
    return model


def _train_on_split(config: QserConfig, features: FeatureSet, split: Split, context: RunContext,
                    reducer) -> TrainedModel:
    seed = config.train.seeds[0]
    reducer, head = fit_on_split(config, features, split, seed=seed, context=context, reducer=reducer)
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

"""One trained model: reducer + head on the single speaker-disjoint split, saved, loaded, predicting clips.

``qser train --head quantum --out models/q8`` writes one; ``qser predict clip.wav --model models/q8``
uses it, and so does the dashboard's Live demo.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, split_by_speaker
from qser_core.errors import DataError
from qser_core.experiments.crossval import FeatureSet, Progress, fit_on_split, predictions_record, prepare
from qser_core.experiments.metrics import classification_metrics

__all__ = ["TrainedModel", "train_model", "load_model"]


@dataclass
class TrainedModel:
    """A reducer and a head trained on the single speaker-disjoint split, ready to predict clips.

    Attributes
    ----------
    config : QserConfig
        The experiment that made it (also saved as ``config.toml``).
    reducer : QubitReducer
        Fitted on the training speakers only.
    head : ClassicalHead or QuantumHead
    metrics : dict
        Test-speaker ``ua, wa, macro_f1, confusion, params, n_test, cancelled``.
    history : list of EpochLog or dict
    split_speakers : dict of str to list of str
        Speakers of the ``train``, ``val`` and ``test`` parts.
    predictions : dict
        Per-clip test predictions (:func:`qser_core.experiments.crossval.predictions_record`).
    run_id : str or None
        MLflow run of the training.
    """

    config: QserConfig
    reducer: Any
    head: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list = field(default_factory=list)
    split_speakers: dict[str, list[str]] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    def save(self, folder: str | Path) -> Path:
        """Write the model folder without pickle (:mod:`qser_core.experiments.model_io`: arrays, weights, manifest)."""
        from qser_core.experiments.model_io import save_parts

        record = {"metrics": self.metrics, "split_speakers": self.split_speakers, "run_id": self.run_id,
                  "history": [log if isinstance(log, dict) else asdict(log) for log in self.history]}
        return save_parts(folder, config=self.config, reducer=self.reducer, head=self.head, record=record)

    @classmethod
    def load(cls, folder: str | Path) -> "TrainedModel":
        """Read a folder written by :meth:`save`; every file is checked against its sha256, nothing is unpickled."""
        from qser_core.experiments.model_io import load_parts

        config, reducer, head, record = load_parts(folder)
        return cls(config=config, reducer=reducer, head=head,
                   metrics=record.get("metrics", {}), history=record.get("history", []),
                   split_speakers=record.get("split_speakers", {}), run_id=record.get("run_id"))

    def embed(self, y_or_path) -> np.ndarray:
        """Backbone embedding (1, dim) of one waveform at ``config.audio.sr`` or one audio file."""
        from qser_core.features.embeddings import embed_waveforms

        return embed_waveforms(self._waveform(y_or_path)[None, :], self.config)

    def angles(self, y_or_path=None, *, embedding: np.ndarray | None = None) -> np.ndarray:
        """Rotation angles (n_qubits,) that the quantum head encodes for one clip (or its embedding)."""
        embedding = self.embed(y_or_path) if embedding is None else embedding
        return self.reducer.transform(np.atleast_2d(embedding))[0]

    def predict_proba(self, y_or_path=None, *, embedding: np.ndarray | None = None) -> dict[str, float]:
        """Probability of each emotion for one clip.

        Parameters
        ----------
        y_or_path : np.ndarray, path or binary file-like, optional
            A waveform at ``config.audio.sr`` (trimmed and cut to length here) or an audio file.
        embedding : np.ndarray, shape (dim,) or (1, dim), optional
            A precomputed backbone embedding (:meth:`embed`): models sharing a backbone embed a clip once.
        """
        proba = self.head.predict_proba(self.angles(y_or_path, embedding=embedding)[None, :])[0]
        return {emotion: float(p) for emotion, p in zip(EMOTIONS, proba)}

    def _waveform(self, y_or_path) -> np.ndarray:
        from qser_core.data.audio import audio_kwargs, check_waveform, fix_length, load_audio

        if y_or_path is None:
            raise DataError("predict needs a clip (waveform, file or path) or an embedding; got neither")
        if isinstance(y_or_path, np.ndarray):  # a recording: the checks a decoded file gets (silent, DC, 1 ms)
            y = check_waveform(y_or_path, sr=self.config.audio.sr, label="the recording")
            return fix_length(y, sr=self.config.audio.sr,
                              duration=self.config.audio.duration, top_db=self.config.audio.top_db)
        return load_audio(y_or_path, **audio_kwargs(self.config.audio))


def load_model(folder: str | Path) -> TrainedModel:
    """Shorthand for :meth:`TrainedModel.load`."""
    return TrainedModel.load(folder)


def predict_timed(models: dict[str, TrainedModel], y_or_path) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Predict one clip with several models that share a backbone, timing each stage.

    The clip is embedded once (the backbone dominates the cost); each head then maps the
    same embedding, so the reported head times compare the heads alone.

    Returns
    -------
    probabilities : dict of model name to dict of emotion to float
    seconds : dict
        ``"embed"`` (audio + backbone) and one entry per model name (reducer + head).
    """
    first = next(iter(models.values()))
    start = time.perf_counter()
    embedding = first.embed(y_or_path)
    seconds = {"embed": time.perf_counter() - start}
    probabilities = {}
    for name, model in models.items():
        if model.config.digest("audio", "features", "embedding") != first.config.digest("audio", "features", "embedding"):
            raise DataError(f"model {name!r} uses another backbone or front end than the others; predict it alone")
        start = time.perf_counter()
        probabilities[name] = model.predict_proba(embedding=embedding)
        seconds[name] = time.perf_counter() - start
    return probabilities, seconds


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
    cancel : qser_core.heads.training.CancelToken, optional
        Stops between batches; the best model so far is kept and scored.
    track : bool, default=True
        Record the run with MLflow: each epoch as it ends, then the test metrics, confusion matrix,
        per-clip predictions, speaker split and the saved model as an artefact.

    Returns
    -------
    TrainedModel
    """
    features = features or prepare(config, progress=progress)
    split = split_by_speaker(features.table, val_fraction=config.data.val_fraction,
                             test_fraction=config.data.test_fraction, seed=config.data.split_seed)
    if not track:
        return _train_on_split(config, features, split, callback, cancel)
    from qser_core.tracking.recorder import track_run

    with track_run(config, run_type="train") as recorder:
        def on_epoch(log):
            recorder.log_epoch(log)
            if callback:
                callback(log)

        model = _train_on_split(config, features, split, on_epoch, cancel)
        model.run_id = recorder.run_id
        recorder.log_corpus(features.corpus.report)
        recorder.set_outcome_from(model.head.history_, epochs=config.train.epochs)
        recorder.log_split(model.split_speakers)
        recorder.log_confusion(model.metrics["confusion"], list(EMOTIONS))
        recorder.log_json("predictions.json", model.predictions)
        with tempfile.TemporaryDirectory(prefix="qser-model-") as folder:
            recorder.log_artifacts(model.save(folder))
        recorder.log_final({k: v for k, v in model.metrics.items() if k != "confusion"})
    return model


def _train_on_split(config, features, split, callback, cancel) -> TrainedModel:
    seed = config.train.seeds[0]
    reducer, head = fit_on_split(config, features, split, seed=seed, callback=callback, cancel=cancel)
    y_pred = head.predict(reducer.transform(features.embeddings[split.test]))
    y_true = features.labels[split.test]
    metrics = classification_metrics(y_true, y_pred)
    metrics.update(params=int(head.n_params_), n_test=int(len(split.test)), cancelled=bool(head.history_.cancelled))
    speakers = features.speakers
    parts = {part: sorted(set(speakers[getattr(split, part)].tolist())) for part in ("train", "val", "test")}
    clips = [Path(features.table["path"].iloc[i]).name for i in split.test]
    return TrainedModel(config=config, reducer=reducer, head=head, metrics=metrics,
                        history=list(head.history_.epochs), split_speakers=parts,
                        predictions=predictions_record(clips, y_true, {seed: y_pred}))

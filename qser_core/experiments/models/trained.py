"""The saved artefact: a fitted reducer + head, saved, loaded, predicting clips.

:func:`qser_core.experiments.protocols.single.train_model` (``qser train --head quantum --out models/q8``) makes
one; ``qser predict clip.wav --model models/q8`` and the dashboard's Live demo use it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qser_core.config import EMOTIONS, QserConfig
from qser_core.errors import DataError

__all__ = ["TrainedModel", "load_model", "predict_timed"]


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
        Per-clip test predictions (:func:`qser_core.experiments.pipeline.predictions_record`).
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

    def summary(self) -> dict[str, Any]:
        """Test metrics and what was trained, JSON-ready (the single-split counterpart of ``Evaluation.summary``)."""
        c = self.config
        out = {"head": c.head.kind, **self.metrics, "n_qubits": c.reduce.n_qubits, "backbone": c.embedding.backbone,
               "dataset": c.data.dataset, "seed": int(c.train.seeds[0]), "run_id": self.run_id}
        if c.head.kind == "quantum":
            out.update(ansatz=c.head.ansatz, encoding=c.head.encoding, n_layers=c.head.n_layers)
        return out

    def save(self, folder: str | Path) -> Path:
        """Write the model folder without pickle (:mod:`qser_core.experiments.models.storage`: arrays, weights, manifest)."""
        from qser_core.experiments.models.storage import save_parts

        record = {"metrics": self.metrics, "split_speakers": self.split_speakers, "run_id": self.run_id,
                  "history": [log if isinstance(log, dict) else asdict(log) for log in self.history]}
        return save_parts(folder, config=self.config, reducer=self.reducer, head=self.head, record=record)

    @classmethod
    def load(cls, folder: str | Path) -> "TrainedModel":
        """Read a folder written by :meth:`save`; every file is checked against its sha256, nothing is unpickled."""
        from qser_core.experiments.models.storage import load_parts

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

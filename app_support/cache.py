"""The dashboard's cache layer — the only home of ``st.cache_data`` and ``st.cache_resource``.

``cache_data`` holds values (corpus tables, embeddings, PCA views, spectrograms, drawings, run
records), keyed by config digests or plain arguments; ``cache_resource`` holds shared objects
(backbones, trained models) that callers never mutate. Long work that reports progress runs
outside the cached functions (a cached function must not draw on the page), filling the library's
disk cache first; the cached function then reads it back quickly.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from qser_core.config import QserConfig

if TYPE_CHECKING:  # imported lazily below: the heads pull in PennyLane
    from qser_core.heads.circuits import CircuitSpec

FEATURE_SECTIONS = ("data", "audio", "features", "embedding")


# ------------------------------------------------------------------ corpus and embeddings
def _corpus_key(config: QserConfig) -> str:
    return json.dumps([config.data.dataset, config.data.data_dir])


@st.cache_data(show_spinner="Indexing the corpus (the demo corpus is generated on first use)…", max_entries=8)
def _corpus(key: str, _config: QserConfig):
    from qser_core.data.corpus import load_corpus

    return load_corpus(_config.data)


def corpus(config: QserConfig):
    """The configured :class:`qser_core.data.corpus.Corpus` (indexed once per dataset and folder)."""
    return _corpus(_corpus_key(config), config)


def corpus_on_disk(config: QserConfig) -> bool:
    """Whether indexing the corpus is quick: a real corpus, or the demo corpus already synthesised."""
    from qser_core.data.demo import demo_corpus_ready

    return config.data.dataset != "demo" or demo_corpus_ready()


def cache_status(config: QserConfig, indexed=None) -> dict[str, Any]:
    """How many clips of the corpus have cached embeddings (not cached: it changes as extraction runs).

    ``indexed``: the corpus of ``config`` when the caller has it already (the start-up job's, on the Overview).
    """
    from qser_core.features.cache import cache_status as status  # the cache alone: no torch on the Overview

    return status((corpus(config) if indexed is None else indexed).table, config)


@st.cache_data(show_spinner="Reading cached embeddings…", max_entries=4)
def _features(key: str, _config: QserConfig):
    from qser_core.experiments.pipeline import prepare

    return prepare(_config)


def features(config: QserConfig, *, progress=None):
    """The :class:`qser_core.experiments.pipeline.FeatureSet` of the config; extracts (with ``progress``) if needed."""
    key = config.digest(*FEATURE_SECTIONS)
    if progress is not None and not _complete(cache_status(config)):
        from qser_core.experiments.pipeline import prepare

        prepare(config, progress=progress)  # fills the disk cache; the cached read below is then quick
    return _features(key, config)


def _complete(status: dict[str, Any]) -> bool:
    cached, total = status.get("cached", 0), status.get("total", status.get("n_clips", 0))
    return bool(status.get("complete", cached >= total > 0))


@st.cache_data(show_spinner="Fitting PCA on the training speakers…", max_entries=16)
def _pca_view(key: str, _config: QserConfig) -> dict[str, Any]:
    from qser_core.experiments.pipeline import pca_view as compute

    return compute(_features(_config.digest(*FEATURE_SECTIONS), _config), _config)


def pca_view(config: QserConfig) -> dict[str, Any]:
    """Explained variance and PCA scores (fit on the training split only) for ``reduce.n_qubits``."""
    return _pca_view(config.digest(*FEATURE_SECTIONS, "reduce"), config)


# ------------------------------------------------------------------ single clips
@st.cache_data(max_entries=64, show_spinner=False)
def clip(path: str, sr: int) -> np.ndarray:
    """One file as a mono waveform at ``sr`` (no trimming, no padding)."""
    from qser_core.data.audio import read_audio

    y, _ = read_audio(path, sr=sr)
    return y


@st.cache_data(max_entries=64, show_spinner=False)
def log_mel(y: np.ndarray, sr: int, n_fft: int, hop_length: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Log-mel spectrogram ``(n_mels, t)`` in dB of one waveform."""
    from qser_core.features.logmel import log_mel as _log_mel

    return _log_mel(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax)


# ------------------------------------------------------------------ circuits
@st.cache_data(max_entries=32, show_spinner=False)
def circuit_text(spec: CircuitSpec) -> str:
    return spec.draw()


@st.cache_data(max_entries=32, show_spinner="Drawing the circuit…")
def circuit_png(spec: CircuitSpec) -> bytes:
    """``qml.draw_mpl`` figure of the circuit (templates expanded) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ = spec.draw_figure()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


@st.cache_data(max_entries=32, show_spinner=False)
def circuit_stats(spec: CircuitSpec) -> dict[str, Any]:
    return spec.stats()


@st.cache_data(max_entries=32, show_spinner="Transpiling for the device…")
def transpiled(spec: CircuitSpec, backend: str, optimization_level: int) -> dict[str, Any]:
    """:func:`qser_core.hardware.circuit.transpile_report` for a fake IBM device (the Hardware page's seed search)."""
    from qser_core.hardware.circuit import transpile_report

    return transpile_report(spec, backend=backend, optimization_level=optimization_level)


# ------------------------------------------------------------------ run records
@st.cache_data(ttl=5, show_spinner=False)
def runs(filter_string: str = ""):
    """Recorded runs (:func:`qser_core.tracking.reader.list_runs`), refreshed every few seconds."""
    from qser_core.tracking.reader import list_runs

    return list_runs(filter_string=filter_string)


@st.cache_data(max_entries=512, show_spinner=False)
def run_config(run_id: str) -> QserConfig | None:
    """The config a recorded run stored (:func:`qser_core.tracking.reader.stored_config`; None when it no longer
    fits). Kept without expiry: a finished run's config does not change."""
    from qser_core.tracking.reader import stored_config

    return stored_config(run_id)


# ------------------------------------------------------------------ shared objects
@st.cache_resource(show_spinner="Loading the backbone…", max_entries=4)
def _backbone(key: str, _config: QserConfig):
    from qser_core.features.backbones import get_backbone

    return get_backbone(_config.embedding.backbone, features=_config.features)


def backbone(config: QserConfig):
    """The configured backbone (shared, never mutated)."""
    return _backbone(config.digest("embedding", "features"), config)


def demo_job(config: QserConfig):
    """The server-wide job yielding the Live demo's default models (logreg + quantum) of ``config``.

    Loaded from disk when a previous start trained them, else trained once in the background (the start-up
    job starts this as soon as the corpus is ready) and saved; the page shows its progress and takes
    ``job.snapshot().results`` once it is done. A failed job is dropped so the next visit retries.
    """
    from app_support.startup import default_models_job

    return default_models_job(config)


@st.cache_resource(show_spinner=False, max_entries=4)
def _startup(key: str, _config: QserConfig):
    from app_support.startup import StartupJob, prepare_default_models

    return StartupJob(_config, after=prepare_default_models if _prepare_defaults() else None).start()


def _prepare_defaults() -> bool:
    """Whether start-up trains the default models (``QSER_PREPARE_DEFAULT_MODELS=0`` turns it off: tests)."""
    import os

    return os.environ.get("QSER_PREPARE_DEFAULT_MODELS", "1") != "0"


def startup(config: QserConfig):
    """The server's :class:`app_support.startup.StartupJob` (started on the first page of a new server)."""
    return _startup(_corpus_key(config), config)


@st.cache_resource(show_spinner="Loading the recorded model…", max_entries=8)
def recorded_model(run_id: str):
    """The model stored with a recorded training run (shared, never mutated)."""
    from app_support.catalogue import load_recorded_model

    return load_recorded_model(run_id)


@st.cache_resource(show_spinner="Loading the saved model…", max_entries=8)
def _saved_model(folder: str, stamp: float):
    from qser_core.experiments.models.trained import load_model

    return load_model(folder)


def saved_model(folder: str):
    """The model saved in ``folder`` (``qser train --out``); reloaded when the folder's files change."""
    from pathlib import Path

    from qser_core.errors import DataError

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataError(f"model folder {folder!r} does not exist; give the folder `qser train --out DIR` wrote")
    return _saved_model(str(path.resolve()), max((p.stat().st_mtime for p in path.iterdir()), default=0.0))


@st.cache_data(max_entries=32, show_spinner="Running the paired tests…")
def paired_test(run_a: str, run_b: str) -> dict[str, Any]:
    """:func:`qser_core.experiments.protocols.compare.compare_runs` (UA) between two recorded runs (DataError if unpaired)."""
    from qser_core.experiments.protocols.compare import compare_runs

    return compare_runs(run_a, run_b, metric="ua")


@st.cache_data(max_entries=16, show_spinner=False)
def decode(data: bytes, sr: int, duration: float, top_db: float, name: str = "") -> np.ndarray:
    """A recorded or uploaded clip as the fixed-length waveform the models take (load_audio).

    ``name`` (the uploaded file's name) is what error messages call the clip.
    """
    from qser_core.data.audio import load_audio

    buffer = io.BytesIO(data)
    buffer.name = name
    return load_audio(buffer, sr=sr, duration=duration, top_db=top_db)


# ------------------------------------------------------------------ sweeps
@st.cache_data(ttl=5, show_spinner=False)
def sweeps(job_state: object = None):
    """Recorded sweeps (:func:`qser_core.experiments.sweeps.runner.list_sweeps`), refreshed every few seconds.

    ``job_state`` is only part of the cache key: the page passes its launched job's identity and whether it
    is still running, so a sweep that finishes inside the time-to-live is listed at once.
    """
    from qser_core.experiments.sweeps.runner import list_sweeps

    return list_sweeps()


@st.cache_data(ttl=5, max_entries=16, show_spinner="Loading the sweep…")
def sweep_record(name: str):
    """The last recorded state of one sweep (:func:`qser_core.experiments.sweeps.runner.load_sweep`); short-lived,
    since a running sweep rewrites it."""
    from qser_core.experiments.sweeps.runner import load_sweep

    return load_sweep(name)


# ------------------------------------------------------------------ hardware
def picked_model(source: tuple[str, str]):
    """The model :func:`app_support.widgets.model_picker` chose: a recorded run's or a saved folder's (shared)."""
    kind, ref = source
    return recorded_model(ref) if kind == "recorded" else saved_model(ref)


@st.cache_resource(show_spinner="Exporting and transpiling the circuit, choosing clips…", max_entries=8)
def hardware_plan(source: tuple[str, str], hardware):
    """``(run, device)`` of :func:`qser_core.hardware.run.plan` on the fake backend (offline runs and estimates).

    ``source`` is what :func:`app_support.widgets.model_picker` returned; ``hardware`` the
    :class:`~qser_core.config.HardwareConfig` the page's widgets built (frozen, so it is the cache key).
    Only fake backends are planned here: an IBM account never enters a cache.
    """
    from qser_core.hardware.run import plan

    kind, ref = source
    return plan(picked_model(source), hardware, fake=True, model_path=ref if kind == "folder" else None)


@st.cache_data(ttl=5, show_spinner=False)
def hardware_jobs():
    """Recorded hardware jobs (refreshed every few seconds; polling IBM is a button)."""
    from qser_core.hardware.run import job_list

    return job_list()


@st.cache_data(max_entries=32, show_spinner="Reading the job's stored result…")
def hardware_result(job_id: str) -> dict[str, Any]:
    """A finished job's scored result with its per-clip values (stored results only: no account involved)."""
    from qser_core.hardware import records
    from qser_core.errors import DataError

    run_id, _, stored = records.find_job(job_id)
    if stored is None:
        raise DataError(f"job {job_id} has no stored result yet; fetch it when IBM reports it done")
    return {**stored, "run_id": run_id}

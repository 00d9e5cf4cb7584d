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
from typing import Any

import numpy as np
import streamlit as st

from qser_core.config import QserConfig

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


def cache_status(config: QserConfig) -> dict[str, Any]:
    """How many clips of the corpus have cached embeddings (not cached: it changes as extraction runs)."""
    from qser_core.features.embeddings import cache_status as status

    return status(corpus(config).table, config)


@st.cache_data(show_spinner="Reading cached embeddings…", max_entries=4)
def _features(key: str, _config: QserConfig):
    from qser_core.experiments.crossval import prepare

    return prepare(_config)


def features(config: QserConfig, *, progress=None):
    """The :class:`qser_core.experiments.crossval.FeatureSet` of the config; extracts (with ``progress``) if needed."""
    key = config.digest(*FEATURE_SECTIONS)
    if progress is not None and not _complete(cache_status(config)):
        from qser_core.experiments.crossval import prepare

        prepare(config, progress=progress)  # fills the disk cache; the cached read below is then quick
    return _features(key, config)


def _complete(status: dict[str, Any]) -> bool:
    cached, total = status.get("cached", 0), status.get("total", status.get("n_clips", 0))
    return bool(status.get("complete", cached >= total > 0))


@st.cache_data(show_spinner="Fitting PCA on the training speakers…", max_entries=16)
def _pca_view(key: str, _config: QserConfig) -> dict[str, Any]:
    from qser_core.experiments.crossval import pca_view as compute

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
def circuit_text(n_qubits: int, n_layers: int, encoding: str, ansatz: str) -> str:
    from qser_core.heads.circuits import draw

    return draw(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)


@st.cache_data(max_entries=32, show_spinner="Drawing the circuit…")
def circuit_png(n_qubits: int, n_layers: int, encoding: str, ansatz: str) -> bytes:
    """``qml.draw_mpl`` figure of the circuit (templates expanded) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qser_core.heads.circuits import draw_figure

    fig, _ = draw_figure(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


@st.cache_data(max_entries=32, show_spinner=False)
def circuit_stats(n_qubits: int, n_layers: int, encoding: str, ansatz: str) -> dict[str, Any]:
    from qser_core.heads.circuits import circuit_stats as stats

    return stats(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)


@st.cache_data(max_entries=32, show_spinner="Transpiling for the device…")
def transpiled(n_qubits: int, n_layers: int, encoding: str, ansatz: str, backend: str,
               optimization_level: int) -> dict[str, Any]:
    """Stats of the Qiskit circuit before and after ``qiskit.transpile`` for a fake IBM device."""
    from qser_core.heads import export

    qc = export.to_qiskit(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    tq = export.transpile_circuit(qc, backend=backend, optimization_level=optimization_level)
    return {"logical": export.qiskit_stats(qc), "transpiled": export.qiskit_stats(tq),
            "qasm": export.to_openqasm(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz),
            "text": str(tq.draw(output="text", idle_wires=False, fold=120))}


# ------------------------------------------------------------------ run records
@st.cache_data(ttl=5, show_spinner=False)
def runs(filter_string: str = ""):
    """Recorded runs (:func:`qser_core.tracking.reader.list_runs`), refreshed every few seconds."""
    from qser_core.tracking.reader import list_runs

    return list_runs(filter_string=filter_string)


@st.cache_data(max_entries=64, show_spinner="Loading the run record…")
def run_record(run_id: str) -> dict[str, Any]:
    from qser_core.tracking.reader import load_run

    return load_run(run_id)


# ------------------------------------------------------------------ shared objects
@st.cache_resource(show_spinner="Loading the backbone…", max_entries=4)
def _backbone(key: str, _config: QserConfig):
    from qser_core.features.backbones import get_backbone

    return get_backbone(_config.embedding.backbone, features=_config.features)


def backbone(config: QserConfig):
    """The configured backbone (shared, never mutated)."""
    return _backbone(config.digest("embedding", "features"), config)


@st.cache_resource(show_spinner="Training small default models for the live demo (once)…", max_entries=4)
def _demo_models(key: str, _config: QserConfig) -> dict[str, Any]:
    from qser_core.experiments.model import train_model

    fs = _features(_config.digest(*FEATURE_SECTIONS), _config)
    small = _config.replace("train", epochs=min(_config.train.epochs, 30))
    return {kind: train_model(small.replace("head", kind=kind), features=fs, track=False)
            for kind in ("logreg", "quantum")}


def demo_models(config: QserConfig) -> dict[str, Any]:
    """A classical (logreg) and a quantum head trained on the active corpus with the session's settings."""
    features(config)
    return _demo_models(config.digest(), config)


@st.cache_data(max_entries=32, show_spinner="Running the paired tests…")
def paired_test(run_a: str, run_b: str) -> dict[str, Any]:
    """McNemar and paired bootstrap (UA) between two recorded runs on the same test clips.

    :func:`qser_core.experiments.crossval.compare_predictions` on the runs' stored per-clip predictions;
    it raises DataError when the runs scored different clips or folds, or share no seed.
    """
    from qser_core.errors import DataError
    from qser_core.experiments.crossval import compare_predictions

    records = [run_record(run_id).get("predictions") for run_id in (run_a, run_b)]
    for run_id, record in zip((run_a, run_b), records):
        if not record:
            raise DataError(f"run {run_id} has no stored per-clip predictions (runs recorded before they were "
                            "stored, or hybrid runs); train or evaluate again to compare it")
    return compare_predictions(records[0], records[1], metric="ua", seed=0)


@st.cache_data(max_entries=16, show_spinner=False)
def decode(data: bytes, sr: int, duration: float, top_db: float) -> np.ndarray:
    """A recorded or uploaded clip as the fixed-length waveform the models take (load_audio)."""
    from qser_core.data.audio import load_audio

    return load_audio(io.BytesIO(data), sr=sr, duration=duration, top_db=top_db)


# ------------------------------------------------------------------ hardware
@st.cache_resource(show_spinner="Loading the trained model…", max_entries=4)
def hardware_model(path: str):
    """A saved model folder (shared, never mutated); the Hardware page runs its quantum head."""
    from qser_core.experiments.model import load_model

    return load_model(path)


@st.cache_resource(show_spinner="Exporting and transpiling the circuit, choosing clips…", max_entries=8)
def hardware_plan(path: str, backend: str, shots: int, noise_scale: float, resilience: int, dd: bool,
                  n_clips: int | None, recalibrate: int, optimization_level: int):
    """``(run, device)`` of :func:`qser_core.hardware.run.plan` on the fake backend (offline runs and estimates).

    Only fake backends are planned here: an IBM account never enters a cache.
    """
    from qser_core.hardware.execute import Mitigation
    from qser_core.hardware.run import plan

    return plan(hardware_model(path), backend=backend, fake=True, shots=shots, noise_scale=noise_scale,
                mitigation=Mitigation(resilience_level=resilience, dynamical_decoupling=dd), n_clips=n_clips,
                recalibrate=recalibrate, optimization_level=optimization_level, model_path=path)


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

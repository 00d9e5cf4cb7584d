"""Shared test fixtures.

Every test session gets its own ``QSER_HOME`` (caches, demo corpus, run records)
unless one is set already (CI sets it inside the clone so the demo corpus and
embeddings are made once per run).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from qser_core.config import QserConfig

EMODB_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "audio"


def pytest_configure(config):
    if "QSER_HOME" not in os.environ:
        import tempfile

        os.environ["QSER_HOME"] = tempfile.mkdtemp(prefix="qser-test-home-")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def qser_home() -> Path:
    """The session's QSER_HOME folder."""
    return Path(os.environ["QSER_HOME"])


@pytest.fixture(scope="session")
def emodb_audio() -> Path:
    """Real speech (EmoDB) beside the project; tests that need it skip where it is absent."""
    if not EMODB_AUDIO.is_dir():
        pytest.skip(f"real-speech folder {EMODB_AUDIO} is absent")
    return EMODB_AUDIO


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory) -> Path:
    """One MLflow SQLite database per test module (tests/test_tracking.py, tests/test_runs.py)."""
    # Creating an MLflow SQLite database runs its migrations (~1-2 s), so most tests share one
    # and isolate themselves with their own experiment name.
    return tmp_path_factory.mktemp("mlflow") / "shared.db"


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One real local Ray (2 CPUs) and one MLflow SQLite store for the module; Ray starts once (a few seconds)."""
    import ray

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'sweeps.db'}"
    os.environ["MLFLOW_EXPERIMENT_NAME"] = f"test-sweep-{uuid.uuid4().hex[:8]}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def store(shared_db, tmp_path, monkeypatch) -> Path:
    """QSER_HOME in tmp, MLFLOW_TRACKING_URI on the shared tmp SQLite, a fresh experiment."""
    monkeypatch.setenv("QSER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{shared_db}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"test-{uuid.uuid4().hex[:8]}")
    return shared_db


@pytest.fixture
def tracking_config() -> QserConfig:
    """A small quantum config (two seeds, 4 qubits, basic ansatz) for recording runs."""
    return QserConfig().with_overrides(["train.seeds=0,1", "reduce.n_qubits=4", "head.ansatz=basic"])


@pytest.fixture(scope="session")
def demo_fast_config():
    """Small, quick settings on the demo corpus (8 qubits, 1 layer, 15 epochs, 3 folds)."""
    from qser_core.config import QserConfig

    return QserConfig().with_overrides(
        ["train.epochs=15", "train.patience=5", "data.n_folds=3", "reduce.n_qubits=8", "head.n_layers=1"]
    )


@pytest.fixture(scope="session")
def demo_fast_features(demo_fast_config):
    """The demo corpus with its embeddings (generated and extracted once per session)."""
    from qser_core.experiments.pipeline import prepare

    return prepare(demo_fast_config)

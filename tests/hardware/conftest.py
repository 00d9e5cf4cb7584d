"""Fixtures of the hardware tests: one small trained quantum head on the demo corpus, saved once per session.

Kept tiny (3 qubits, 1 layer, 3 epochs, a few clips, low shots): the machine is shared.
"""

from __future__ import annotations

import pytest

from qser_core.config import QserConfig
from qser_core.progress import RunContext


@pytest.fixture(scope="session")
def hw_config() -> QserConfig:
    return QserConfig().with_overrides(["reduce.n_qubits=3", "head.n_layers=1", "head.ansatz=strong",
                                        "train.epochs=3", "train.patience=3"])


@pytest.fixture(scope="session")
def hw_features(hw_config):
    from qser_core.experiments.pipeline import prepare

    return prepare(hw_config)


@pytest.fixture(scope="session")
def hw_model(hw_config, hw_features):
    from qser_core.experiments.protocols.single import train_model

    return train_model(hw_config, features=hw_features, context=RunContext(track=False))


@pytest.fixture(scope="session")
def hw_model_dir(hw_model, tmp_path_factory):
    return hw_model.save(tmp_path_factory.mktemp("hw-model") / "model")


@pytest.fixture
def hw_store(shared_db, monkeypatch):
    """Runs go to the module's shared SQLite store, in a fresh experiment (QSER_HOME keeps its caches)."""
    import uuid

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{shared_db}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"hw-{uuid.uuid4().hex[:8]}")
    return shared_db

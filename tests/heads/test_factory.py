"""Tests of qser_core.heads.factory: make_head builds the estimator a config describes."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.config import HeadConfig, TrainConfig
from qser_core.errors import ConfigError
from qser_core.heads.classical import ClassicalHead
from qser_core.heads.factory import make_head
from qser_core.heads.quantum import QuantumHead


def _data(n=60, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, np.pi, (n, d)), np.arange(n) % 6


class TestMakeHead:
    def test_quantum(self):
        head = make_head(HeadConfig(kind="quantum", n_layers=3, ansatz="hea", encoding="reupload"),
                         TrainConfig(epochs=7, lr=0.05), n_qubits=5, seed=4)
        assert isinstance(head, QuantumHead)
        assert (head.n_layers, head.ansatz, head.encoding, head.epochs, head.lr, head.seed) == (3, "hea", "reupload", 7, 0.05, 4)
        assert head.executor == "torch"

    def test_executor_comes_from_the_config(self):
        head = make_head(HeadConfig(kind="quantum", executor="lightning.qubit"), TrainConfig(), n_qubits=3, seed=0)
        assert head.executor == "lightning.qubit"

    def test_unknown_executor_fails_before_training(self):
        with pytest.raises(ConfigError, match="head.executor must be one of torch, default.qubit, lightning.qubit.*; "
                                              "got 'qpu'"):
            make_head(HeadConfig(kind="quantum", executor="qpu"), TrainConfig(), n_qubits=3, seed=0)

    def test_matched_uses_quantum_count(self):
        head = make_head(HeadConfig(kind="mlp-matched", n_layers=4, ansatz="strong"), TrainConfig(), n_qubits=8, seed=0)
        assert head.target_params == 150
        X, y = _data(d=8)
        head.set_params(epochs=1).fit(X, y)
        assert abs(head.n_params_ - 150) <= 15

    @pytest.mark.parametrize("kind", ["logreg", "mlp"])
    def test_classical(self, kind):
        head = make_head(HeadConfig(kind=kind, hidden=9), TrainConfig(patience=3), n_qubits=4, seed=1)
        assert isinstance(head, ClassicalHead) and head.kind == kind and head.patience == 3

"""Tests of qser_core.heads.quantum: QuantumModule and the QuantumHead estimator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from qser_core.errors import ConfigError, DataError
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.quantum import QuantumHead, QuantumModule, quantum_param_count


def _data(n=120, d=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 6
    # class-dependent angles: learnable by a small circuit
    X = np.clip(np.pi * (y[:, None] + 0.5) / 6 + rng.normal(0, 0.1, (n, d)), 0, np.pi)
    return X, y


class TestModule:
    def test_logits_shape_and_param_count(self):
        spec = CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong")
        m = QuantumModule(spec)
        assert m(torch.rand(7, 4)).shape == (7, 6)
        assert sum(p.numel() for p in m.parameters()) == quantum_param_count(spec) == 54 == spec.stats()["params"]

    @pytest.mark.parametrize("encoding,ansatz", [("reupload", "hea"), ("angle-rx", "basic")])
    def test_executors_agree(self, encoding, ansatz):
        torch.manual_seed(0)
        spec = CircuitSpec(3, 2, encoding=encoding, ansatz=ansatz)
        fast = QuantumModule(spec, executor="torch")
        ref = QuantumModule(spec, executor="default.qubit")
        ref.load_state_dict(fast.state_dict())
        x = torch.rand(5, 3) * np.pi
        torch.testing.assert_close(fast(x), ref(x), atol=1e-5, rtol=0)

    def test_same_state_dict_on_every_executor(self):
        # a model trained on one executor loads into another (e.g. for evaluation on hardware)
        spec = CircuitSpec(3, 1, ansatz="hea")
        keys = {name: set(QuantumModule(spec, executor=name).state_dict()) for name in ("torch", "default.qubit")}
        assert keys["torch"] == keys["default.qubit"] == {"weights", "readout.weight", "readout.bias"}

    def test_use_executor_keeps_the_weights(self):
        torch.manual_seed(1)
        m = QuantumModule(CircuitSpec(3, 2, encoding="angle-ry", ansatz="strong"))
        x = torch.rand(4, 3) * np.pi
        before = m(x)
        assert m.use_executor("default.qubit") is m and m.executor.name == "default.qubit"
        torch.testing.assert_close(m(x), before, atol=1e-5, rtol=0)

    def test_bad_executor(self):
        with pytest.raises(ConfigError, match="head.executor must be one of torch, default.qubit, lightning.qubit.*; "
                                              "got 'qiskit'"):
            QuantumModule(CircuitSpec(3, 1, ansatz="hea"), executor="qiskit")


class TestFit:
    def test_fit_predict(self):
        X, y = _data()
        head = QuantumHead(n_layers=2, ansatz="strong", epochs=25, lr=0.1, batch_size=16, patience=30)
        assert head.fit(X, y, X_val=X, y_val=y) is head
        proba = head.predict_proba(X)
        assert proba.shape == (120, 6) and np.allclose(proba.sum(1), 1)
        assert np.array_equal(head.predict(X), proba.argmax(1))
        assert np.array_equal(head.classes_, np.arange(6))
        assert head.n_params_ == 3 * 2 * 3 + 3 * 6 + 6
        assert head.circuit_stats_["params"] == head.n_params_
        assert head.history_.best_score > 0.5  # well above chance (1/6)
        assert isinstance(head.module_, QuantumModule)

    def test_same_seed_same_predictions(self):
        X, y = _data()
        a = QuantumHead(n_layers=1, ansatz="hea", epochs=3, seed=5).fit(X, y, X_val=X, y_val=y)
        b = QuantumHead(n_layers=1, ansatz="hea", epochs=3, seed=5).fit(X, y, X_val=X, y_val=y)
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
        assert [e.val_ua for e in a.history_.epochs] == [e.val_ua for e in b.history_.epochs]

    def test_default_qubit_backend_trains(self):
        X, y = _data(n=24)
        head = QuantumHead(n_layers=1, ansatz="basic", executor="default.qubit", epochs=1).fit(X, y)
        assert head.predict(X).shape == (24,) and head.module_.executor.name == "default.qubit"
        assert head.spec_ == CircuitSpec(3, 1, encoding="angle-ry", ansatz="basic")

    def test_clone_keeps_params(self):
        head = QuantumHead(n_layers=3, encoding="reupload", ansatz="hea", executor="lightning.qubit", lr=0.05)
        assert clone(head).get_params() == head.get_params()
        assert head.get_params()["executor"] == "lightning.qubit"


class TestInputs:
    def test_not_fitted(self):
        with pytest.raises(NotFittedError, match="QuantumHead"):
            QuantumHead().predict(np.zeros((2, 3)))

    @pytest.mark.parametrize(
        "X,match",
        [
            (np.zeros(5), r"X must be a 2-D array \(n_samples, n_features\); got shape \(5,\)"),
            (np.zeros((6, 1)), "X must have 2..12 columns .one per qubit.; got 1"),
            (np.zeros((6, 13)), "got 13. Reduce the features"),
            (np.full((6, 3), np.nan), "X contains NaN or infinite values"),
        ],
    )
    def test_bad_X(self, X, match):
        with pytest.raises(DataError, match=match):
            QuantumHead(epochs=1).fit(X, np.arange(len(X)) % 6)

    def test_bad_labels(self):
        X, _ = _data(n=12)
        with pytest.raises(DataError, match=r"y must hold labels 0..5 \(index into EMOTIONS\); got \[6, 9\]"):
            QuantumHead(epochs=1).fit(X, np.array([0, 1, 2, 3, 4, 5, 6, 9, 0, 1, 2, 3]))
        with pytest.raises(DataError, match="y must hold integer labels"):
            QuantumHead(epochs=1).fit(X, np.array(["ANG"] * 12))

    def test_bad_circuit_setting(self):
        X, y = _data(n=12)
        with pytest.raises(ConfigError, match="n_layers must be an integer between 1 and 8; got 9"):
            QuantumHead(n_layers=9, epochs=1).fit(X, y)

    def test_predict_with_other_width(self):
        X, y = _data(n=12)
        head = QuantumHead(n_layers=1, epochs=1).fit(X, y)
        with pytest.raises(DataError, match="X has 4 columns but the head was fitted on 3"):
            head.predict(np.zeros((2, 4)))

"""Tests of qser_core.heads.executors: every executor agrees with default.qubit; the registry is open."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from qser_core.errors import ConfigError, DataError
from qser_core.heads import executors
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.executors import QNodeExecutor, executor_names, get_executor, register_executor
from qser_core.heads.quantum import QuantumHead

SPECS = [
    CircuitSpec(3, 2, encoding="reupload", ansatz="strong"),
    CircuitSpec(4, 2, encoding="angle-rx", ansatz="basic"),
    CircuitSpec(4, 3, encoding="angle-ry", ansatz="hea"),
]


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so registrations made by a test do not outlive it."""
    monkeypatch.setattr(executors, "_REGISTRY", dict(executors._REGISTRY))
    return executors._REGISTRY


def _values_and_gradients(executor, spec, *, seed=0, batch=5):
    """⟨Z⟩ and the gradients of a generic scalar loss w.r.t. inputs and weights (float64 leaves)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, spec.n_qubits, generator=gen, dtype=torch.float64) * np.pi).requires_grad_()
    w = (torch.rand(spec.weight_shape, generator=gen, dtype=torch.float64) * 2 * np.pi).requires_grad_()
    coef = torch.randn(batch, spec.n_qubits, generator=gen, dtype=torch.float64)
    out = executor(x, w)
    gx, gw = torch.autograd.grad((out * coef).sum() + out.square().sum(), [x, w])
    return out.detach().double(), gx, gw


def _default_mixed(spec, **options):
    """A noisy-capable density-matrix simulator: a real executor from outside the built-ins."""
    return QNodeExecutor(spec, device="default.mixed", diff_method="backprop", **options)


class TestAgreement:
    @pytest.mark.parametrize("spec", SPECS, ids=str)
    @pytest.mark.parametrize("name,options,atol", [
        ("torch", {"dtype": torch.complex128}, 1e-9),
        ("torch", {}, 2e-5),  # complex64, what training uses
        ("lightning.qubit", {}, 1e-6),  # returns float32 values; its adjoint gradients are float64
    ])
    def test_same_expvals_and_gradients_as_default_qubit(self, spec, name, options, atol):
        ref = _values_and_gradients(get_executor("default.qubit", spec), spec)
        ours = _values_and_gradients(get_executor(name, spec, **options), spec)
        for a, b, what in zip(ref, ours, ("<Z>", "d/dinputs", "d/dweights")):
            assert b.shape == a.shape, what
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=atol, rtol=0, err_msg=f"{name}: {what}")

    def test_values_are_expectations(self):
        spec = SPECS[0]
        out = get_executor("torch", spec)(torch.zeros(2, 3), torch.zeros(spec.weight_shape))
        assert out.shape == (2, 3) and torch.all(out.abs() <= 1)


class TestRegistry:
    def test_builtin_names(self):
        assert executor_names()[:3] == ("torch", "default.qubit", "lightning.qubit")

    def test_a_new_executor_needs_no_change_to_the_head(self, registry):
        register_executor("default.mixed", _default_mixed)
        assert "default.mixed" in executor_names()
        spec = SPECS[1]
        ref = _values_and_gradients(get_executor("default.qubit", spec), spec)
        ours = _values_and_gradients(get_executor("default.mixed", spec), spec)
        for a, b in zip(ref, ours):
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-9, rtol=0)
        rng = np.random.default_rng(0)
        X, y = rng.uniform(0, np.pi, (12, 3)), np.arange(12) % 6
        head = QuantumHead(n_layers=1, ansatz="hea", executor="default.mixed", epochs=1).fit(X, y)
        assert head.module_.executor.name == "default.mixed" and head.predict(X).shape == (12,)

    def test_import_path_is_resolved_on_first_use(self, registry):
        register_executor("reference-by-path", "qser_core.heads.executors:_default_qubit")
        assert registry["reference-by-path"] == "qser_core.heads.executors:_default_qubit"
        executor = get_executor("reference-by-path", SPECS[0])
        assert isinstance(executor.run, QNodeExecutor) and registry["reference-by-path"] is executors._default_qubit

    @pytest.mark.parametrize("name", ["torch", "default.qubit", "lightning.qubit"])
    def test_pickles(self, name):
        # fold tasks run in other processes; lightning's native statevector itself cannot be pickled
        spec = SPECS[0]
        executor = get_executor(name, spec)
        copy = pickle.loads(pickle.dumps(executor))
        x, w = torch.rand(2, 3, dtype=torch.float64), torch.rand(spec.weight_shape, dtype=torch.float64)
        torch.testing.assert_close(copy(x, w), executor(x, w))

    def test_options_reach_the_factory(self):
        executor = get_executor("torch", SPECS[0], dtype=torch.complex128)
        assert executor.run.cdtype == torch.complex128


class TestInputs:
    def test_unknown_name(self):
        with pytest.raises(ConfigError, match="head.executor must be one of torch, default.qubit, lightning.qubit.*; "
                                              "got 'ibm'. Set head.executor, or register it"):
            get_executor("ibm", SPECS[0])

    def test_taken_name(self, registry):
        with pytest.raises(ConfigError, match="executor 'torch' is already registered; pick another name or pass "
                                              "replace=True"):
            register_executor("torch", _default_mixed)
        register_executor("torch", _default_mixed, replace=True)
        assert isinstance(get_executor("torch", SPECS[0]).run, QNodeExecutor)

    @pytest.mark.parametrize("name,factory,match", [
        ("", _default_mixed, "executor name must be a non-empty string; got ''"),
        ("x", 42, "executor factory must be callable or 'module:attribute'; got 42"),
        ("x", "no_colon", "executor factory must be callable or 'module:attribute'; got 'no_colon'"),
    ])
    def test_bad_registration(self, registry, name, factory, match):
        with pytest.raises(ConfigError, match=match):
            register_executor(name, factory)

    def test_import_path_that_does_not_import(self, registry):
        register_executor("ghost", "qser_core.no_such_module:factory")
        with pytest.raises(ConfigError, match="executor 'ghost' points to 'qser_core.no_such_module:factory', which "
                                              "cannot be imported"):
            get_executor("ghost", SPECS[0])

    @pytest.mark.parametrize("angles,weights,match", [
        (torch.zeros(2, 4), torch.zeros(2, 3, 3), r"angles must have shape \(n, 3\) \(one angle per qubit\); "
                                                  r"got \(2, 4\)"),
        (torch.zeros(3), torch.zeros(2, 3, 3), r"angles must have shape \(n, 3\) .*; got \(3,\)"),
        (torch.zeros(2, 3), torch.zeros(2, 3), r"weights must have shape \(2, 3, 3\) .*; got \(2, 3\)"),
    ])
    def test_shapes_are_checked(self, angles, weights, match):
        with pytest.raises(DataError, match=match):
            get_executor("torch", SPECS[0])(angles, weights)

    def test_a_factory_that_returns_the_wrong_shape(self, registry):
        register_executor("broken", lambda spec: (lambda angles, weights: angles[:, :1]))
        with pytest.raises(DataError, match=r"executor 'broken' must return ⟨Z⟩ of shape \(2, 3\); got \(2, 1\)"):
            get_executor("broken", SPECS[0])(torch.zeros(2, 3), torch.zeros(2, 3, 3))


class TestTrainable:
    def test_device_executors_are_not_offered_for_training(self):
        from qser_core.heads.executors import executor_names

        assert "aer.noisy" in executor_names()
        assert "aer.noisy" not in executor_names(trainable=True)
        assert {"torch", "default.qubit", "lightning.qubit"} <= set(executor_names(trainable=True))

    def test_the_configs_menu_names_registered_trainable_executors(self):
        from qser_core.config import EXECUTORS
        from qser_core.heads.executors import executor_names

        assert set(EXECUTORS) <= set(executor_names(trainable=True))

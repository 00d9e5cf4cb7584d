"""Tests of qser_core.hardware.execute: one primitive job per evaluation set, through the real primitives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware.backends import fake_backend
from qser_core.hardware.circuit import export_circuit, transpile_for
from qser_core.hardware.execute import Mitigation, expectations, local_target, submit, wait
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.simulator import TorchStatevector

N_QUBITS, N_LAYERS, SHOTS = 3, 1, 2048


@pytest.fixture(scope="module")
def setup():
    spec = CircuitSpec(N_QUBITS, N_LAYERS, encoding="angle-ry", ansatz="strong")
    weights = np.random.default_rng(0).uniform(0, 2 * np.pi, spec.weight_shape)
    hc = export_circuit(weights, spec=spec)
    device = fake_backend("ibm_brisbane")
    angles = np.random.default_rng(1).uniform(0, np.pi, (6, N_QUBITS))
    exact = TorchStatevector(spec, dtype=torch.complex128)(torch.tensor(angles), torch.tensor(weights)).numpy()
    return transpile_for(hc, device), device, angles, exact


def _count_runs(monkeypatch, cls):
    """Count calls of the real ``cls.run`` (spying only: the real method still runs)."""
    calls = []
    real = cls.run

    def counting(self, *args, **kwargs):
        calls.append(len(args[0]) if args else len(kwargs.get("pubs", [])))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "run", counting)
    return calls


class TestOneJob:
    @pytest.mark.parametrize("primitive", ["estimator", "sampler"])
    def test_whole_set_is_one_job_of_one_pub(self, setup, monkeypatch, primitive):
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2

        isa, device, angles, _ = setup
        calls = _count_runs(monkeypatch, EstimatorV2 if primitive == "estimator" else SamplerV2)
        target = local_target(isa, device, noise_scale=1.0, seed=3)
        execution = submit(isa, angles, target=target, shots=64, primitive=primitive, seed=3)
        values = expectations(wait(execution), primitive=primitive, layout=execution.layout)
        assert calls == [1]  # one run call carrying one PUB
        assert values.shape == (len(angles), N_QUBITS) and np.all(np.abs(values) <= 1)


class TestNoiseless:
    @pytest.mark.parametrize("primitive", ["estimator", "sampler"])
    def test_agrees_with_torch_simulator_within_shot_noise(self, setup, primitive):
        isa, device, angles, exact = setup
        target = local_target(isa, device, noise_scale=0.0, seed=5)
        execution = submit(isa, angles, target=target, shots=SHOTS, primitive=primitive, seed=5)
        values = expectations(wait(execution), primitive=primitive, layout=execution.layout)
        sigma = np.sqrt((1 - exact ** 2) / SHOTS)  # binomial standard error of each ⟨Z⟩
        assert np.all(np.abs(values - exact) <= 5 * sigma + 1e-9)

    def test_device_noise_shrinks_expectations(self, setup):
        isa, device, angles, exact = setup
        target = local_target(isa, device, noise_scale=2.0, seed=5)
        execution = submit(isa, angles, target=target, shots=SHOTS, seed=5)
        values = expectations(wait(execution), primitive="estimator", layout=execution.layout)
        assert np.abs(values).mean() < np.abs(exact).mean()


class TestInputs:
    def test_wrong_angle_shape(self, setup):
        isa, device, _, _ = setup
        with pytest.raises(BackendError, match=r"angles must have shape \(n_clips, 3\)"):
            submit(isa, np.zeros((4, 2)), target=local_target(isa, device), shots=16)

    def test_bad_shots(self, setup):
        isa, device, angles, _ = setup
        with pytest.raises(ConfigError, match="shots must be an integer between 1 and 100000; got 0"):
            submit(isa, angles, target=local_target(isa, device), shots=0)

    def test_bad_resilience_level(self):
        with pytest.raises(ConfigError, match="resilience level must be 0, 1 or 2; got 3"):
            Mitigation(resilience_level=3)

    def test_mitigation_recorded_not_applied_offline(self, setup):
        isa, device, angles, _ = setup
        execution = submit(isa, angles[:2], target=local_target(isa, device), shots=16,
                           mitigation=Mitigation(resilience_level=2, dynamical_decoupling=True))
        assert execution.mitigation["resilience_level"] == 2 and execution.mitigation["applied"] is False

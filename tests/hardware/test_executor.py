"""Tests of qser_core.hardware.executor: the registered ``aer.noisy`` executor of the quantum head."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.executors import executor_names, get_executor
from qser_core.heads.quantum import QuantumModule

SPEC = CircuitSpec(3, 1, encoding="angle-ry", ansatz="strong")
SHOTS = 2048


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    return (torch.tensor(rng.uniform(0, np.pi, (5, 3))),
            torch.tensor(rng.uniform(0, 2 * np.pi, SPEC.weight_shape)))


class TestRegistered:
    def test_name_is_registered(self):
        assert "aer.noisy" in executor_names()

    def test_noiseless_agrees_with_torch_within_shot_noise(self, inputs):
        angles, weights = inputs
        exact = get_executor("torch", SPEC, dtype=torch.complex128)(angles, weights).numpy()
        ours = get_executor("aer.noisy", SPEC, noise_scale=0.0, shots=SHOTS, seed=1)(angles, weights).numpy()
        sigma = np.sqrt((1 - exact ** 2) / SHOTS)  # binomial standard error of each ⟨Z⟩
        assert ours.shape == exact.shape and np.all(np.abs(ours - exact) <= 5 * sigma + 1e-9)

    def test_one_job_per_call(self, inputs, monkeypatch):
        from qiskit_ibm_runtime import EstimatorV2

        calls, real = [], EstimatorV2.run
        monkeypatch.setattr(EstimatorV2, "run", lambda self, pubs, **kw: calls.append(len(pubs)) or real(self, pubs, **kw))
        module = QuantumModule(SPEC).use_executor("aer.noisy", shots=64, seed=2)
        with torch.no_grad():
            assert module(inputs[0].float()).shape == (5, 6)
        assert calls == [1]

    def test_pickles_without_its_simulator(self, inputs):
        executor = get_executor("aer.noisy", SPEC, shots=32, seed=3)
        executor(*inputs)
        clone = pickle.loads(pickle.dumps(executor))
        assert clone(*inputs).shape == (5, 3)

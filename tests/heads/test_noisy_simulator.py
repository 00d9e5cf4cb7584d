"""Tests of qser_core.heads.noisy_simulator: sampled Pauli errors, readout error, gradients, ⟨Z⟩ normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qser_core.errors import DataError
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.noisy_simulator import ExpvalNorm, NoiseRates, NoisyTorchStatevector
from qser_core.heads.simulator import TorchStatevector


def _rates(n: int, p1: float = 0.0, p2: float = 0.0, readout=(0.0, 0.0)) -> NoiseRates:
    return NoiseRates(np.full(n, p1), np.full(n, p2), np.tile(np.asarray(readout, float), (n, 1)))


@pytest.mark.parametrize("ansatz, encoding", [("strong", "angle-ry"), ("hea", "reupload"), ("basic", "angle-rx")])
def test_zero_rates_are_the_ideal_simulator_exactly(ansatz, encoding):
    spec = CircuitSpec(4, 2, encoding=encoding, ansatz=ansatz)
    x, w = torch.rand(7, 4) * 3, torch.rand(spec.weight_shape) * 6
    ideal = TorchStatevector(spec)(x, w)
    noisy = NoisyTorchStatevector(spec, NoiseRates.zeros(4))
    for train in (True, False):
        noisy.train(train)
        assert torch.equal(noisy(x, w), ideal)


def test_readout_error_is_the_exact_affine_map_of_z():
    spec = CircuitSpec(3, 1, ansatz="hea")
    x, w = torch.rand(5, 3), torch.rand(spec.weight_shape)
    p01, p10 = 0.04, 0.1
    sim = NoisyTorchStatevector(spec, _rates(3, readout=(p01, p10)), dtype=torch.complex128)
    z = TorchStatevector(spec, dtype=torch.complex128)(x, w)
    expected = (1 - p01 - p10) * z + (p10 - p01)
    for train in (True, False):
        sim.train(train)
        torch.testing.assert_close(sim(x, w), expected)


def test_sampled_errors_average_to_the_depolarising_channel():
    # hea on 2 qubits: [RY(x) RY(w)] then one CZ; Paulis after the CZ (p2) flip Z with probability 2p/3,
    # so the trajectory average is (1 - 4p/3)⟨Z⟩, which the evaluation mode gives exactly
    spec, p = CircuitSpec(2, 1, ansatz="hea"), 0.3
    sim = NoisyTorchStatevector(spec, _rates(2, p2=p), dtype=torch.complex128, seed=1)
    x, w = torch.tensor([[0.4, 1.1]]).expand(40000, 2), torch.tensor([[0.2, -0.5]])
    ideal = TorchStatevector(spec, dtype=torch.complex128)(x[:1], w)
    sim.train()
    z = sim(x, w)
    assert not torch.allclose(z, ideal.expand_as(z))  # individual trajectories do differ
    torch.testing.assert_close(z.mean(0), (1 - 4 * p / 3) * ideal[0], atol=0.01, rtol=0)
    sim.eval()
    torch.testing.assert_close(sim(x[:1], w), (1 - 4 * p / 3) * ideal)


def test_same_seed_same_errors_and_different_draws_each_step():
    spec = CircuitSpec(3, 2, ansatz="strong")
    sim = NoisyTorchStatevector(spec, _rates(3, p1=0.1, p2=0.2), seed=3)
    x, w = torch.rand(64, 3), torch.rand(spec.weight_shape)
    sim.reseed()
    first, second = sim(x, w), sim(x, w)
    sim.reseed()
    assert torch.equal(sim(x, w), first) and not torch.equal(first, second)


@pytest.mark.parametrize("ansatz", ["strong", "hea"])
def test_gradients_match_finite_differences(ansatz):
    spec = CircuitSpec(3, 2, ansatz=ansatz)  # strong: complex statevector; hea: real
    sim = NoisyTorchStatevector(spec, _rates(3, p1=0.15, p2=0.25, readout=(0.03, 0.07)), dtype=torch.complex128,
                                shots=0, seed=5).train()
    x = torch.rand(16, 3, dtype=torch.float64) * 3
    w = (torch.rand(spec.weight_shape, dtype=torch.float64) * 6).requires_grad_()
    coeff = torch.randn(16, 3, dtype=torch.float64)

    def loss(weights):
        sim.reseed()  # the same sampled errors at every evaluation: a fixed trajectory per row
        return (sim(x, weights) * coeff).sum()

    grad, = torch.autograd.grad(loss(w), w)
    eps, flat = 1e-6, w.detach().reshape(-1)
    numeric = torch.zeros_like(flat)
    for k in range(flat.numel()):
        up, down = flat.clone(), flat.clone()
        up[k] += eps
        down[k] -= eps
        numeric[k] = (loss(up.reshape(w.shape)) - loss(down.reshape(w.shape))) / (2 * eps)
    torch.testing.assert_close(grad.reshape(-1), numeric, atol=1e-6, rtol=1e-5)
    assert grad.abs().sum() > 0


def test_rates_are_checked_and_scaled():
    with pytest.raises(DataError, match="probabilities"):
        NoiseRates(np.full(3, 0.1), np.full(3, 1.5), np.zeros((3, 2)))
    with pytest.raises(DataError, match="2 qubits"):
        NoisyTorchStatevector(CircuitSpec(3, 1, ansatz="hea"), NoiseRates.zeros(2))
    rates = _rates(2, p1=0.01, p2=0.4, readout=(0.3, 0.1)).scaled(2.0)
    np.testing.assert_allclose(rates.p1, 0.02)
    np.testing.assert_allclose(rates.p2, 0.75)  # capped: 3/4 is a fully depolarised qubit
    np.testing.assert_allclose(rates.readout, [[0.5, 0.2]] * 2)
    assert _rates(2, p1=0.5).scaled(0).noiseless


def test_norm_batch_statistics_fit_and_fold_into_the_readout():
    torch.manual_seed(0)
    norm, linear = ExpvalNorm(3), torch.nn.Linear(3, 6).double()
    z = torch.randn(50, 3, dtype=torch.float64) * torch.tensor([0.1, 0.5, 0.02]) + torch.tensor([0.3, -0.2, 0.0])
    norm.train()
    out = norm(z)
    torch.testing.assert_close(out.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    norm.fit(z)
    norm.eval()
    before = linear(norm(z))
    norm.fold_into(linear)
    torch.testing.assert_close(linear(z), before)
    torch.testing.assert_close(norm(z), z, atol=1e-6, rtol=0)  # now the identity (float32 buffers)
    with pytest.raises(DataError, match="at least 2 clips"):
        norm.fit(z[:1])


def test_shot_noise_has_the_binomial_variance_in_training_only():
    spec, shots = CircuitSpec(2, 1, ansatz="hea"), 256
    sim = NoisyTorchStatevector(spec, _rates(2, readout=(0.01, 0.01)), shots=shots, dtype=torch.complex128)
    x, w = torch.tensor([[0.4, 1.1]]).expand(20000, 2), torch.tensor([[0.2, -0.5]])
    sim.eval()
    exact = sim(x[:1], w)[0]
    z = sim.train()(x, w)
    torch.testing.assert_close(z.mean(0), exact, atol=0.005, rtol=0)
    torch.testing.assert_close(z.var(0), (1 - exact**2) / shots, rtol=0.05, atol=0)

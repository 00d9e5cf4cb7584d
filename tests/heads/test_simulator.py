"""The batched torch simulator matches PennyLane's default.qubit on the same circuit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from qser_core.errors import BackendError, DataError
from qser_core.heads import circuits
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.simulator import TorchStatevector

COMBOS = list(itertools.product(circuits.ENCODINGS, circuits.ANSATZE))


def _reference_and_ours(n_qubits, n_layers, encoding, ansatz, batch, seed=0):
    """Values and gradients (w.r.t. inputs and weights) of both simulators, complex128."""
    gen = torch.Generator().manual_seed(seed)
    spec = CircuitSpec(n_qubits, n_layers, encoding=encoding, ansatz=ansatz)
    shape = spec.weight_shape
    x0 = torch.rand(batch, n_qubits, generator=gen, dtype=torch.float64) * np.pi
    w0 = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 * np.pi
    coef = torch.randn(batch, n_qubits, generator=gen, dtype=torch.float64)  # a generic scalar loss

    def run(f):
        x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        out = f(x, w)
        gx, gw = torch.autograd.grad((out * coef).sum() + out.square().sum(), [x, w])
        return out.detach(), gx, gw

    qnode = spec.qnode()
    sim = TorchStatevector(spec, dtype=torch.complex128)
    return run(lambda x, w: torch.stack(qnode(x, w), -1)), run(sim)


class TestAgreement:
    @pytest.mark.parametrize("encoding,ansatz", COMBOS)
    @pytest.mark.parametrize("n_qubits,n_layers", [(2, 3), (3, 2), (5, 2), (8, 2)])
    def test_matches_default_qubit(self, n_qubits, n_layers, encoding, ansatz):
        ref, ours = _reference_and_ours(n_qubits, n_layers, encoding, ansatz, batch=4)
        for a, b, what in zip(ref, ours, ("expvals", "d/dinputs", "d/dweights")):
            assert a.shape == b.shape, what
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-9, rtol=0, err_msg=what)

    @pytest.mark.parametrize("encoding,ansatz", COMBOS)
    def test_matches_default_qubit_12_qubits(self, encoding, ansatz):
        ref, ours = _reference_and_ours(12, 2, encoding, ansatz, batch=2, seed=1)
        for a, b in zip(ref, ours):
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-9, rtol=0)

    def test_complex64_close_to_reference(self):
        x = torch.rand(16, 6) * np.pi
        w = torch.rand(3, 6, 3) * 6
        spec = CircuitSpec(6, 3, encoding="reupload", ansatz="strong")
        fast, exact = TorchStatevector(spec), TorchStatevector(spec, dtype=torch.complex128)
        assert fast(x, w).dtype == torch.float32
        np.testing.assert_allclose(fast(x, w).numpy(), exact(x.double(), w.double()).numpy(), atol=1e-5)


class TestCompilation:
    def test_fuses_single_qubit_gates_and_entanglers(self):
        sim = TorchStatevector(CircuitSpec(8, 4, encoding="angle-ry", ansatz="strong"))
        # 8 RY + 32 Rot + 32 CNOT gates become 4 local stages and 4 signed permutations
        assert sim.n_gates == 72
        assert sim.n_stages == 8

    def test_real_statevector_only_for_real_circuits(self):
        assert TorchStatevector(CircuitSpec(3, 1, encoding="reupload", ansatz="hea")).real
        assert not TorchStatevector(CircuitSpec(3, 1, encoding="angle-rx", ansatz="hea")).real
        assert not TorchStatevector(CircuitSpec(3, 1, encoding="angle-ry", ansatz="basic")).real

    def test_no_per_sample_cost_in_graph(self):
        # batch size changes values only, not the number of autograd nodes (no per-sample loops)
        sim = TorchStatevector(CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong"))
        w = torch.rand(2, 4, 3, requires_grad=True)

        def n_nodes(batch):
            out = sim(torch.rand(batch, 4), w).sum()
            seen, stack = set(), [out.grad_fn]
            while stack:
                node = stack.pop()
                if node is None or node in seen:
                    continue
                seen.add(node)
                stack.extend(f for f, _ in node.next_functions)
            return len(seen)

        assert n_nodes(2) == n_nodes(50)


class TestInputs:
    def test_wrong_input_width(self):
        sim = TorchStatevector(CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea"))
        with pytest.raises(DataError, match=r"inputs must have shape \(batch, 3\) \(one angle per qubit\); "
                                            r"got \(2, 4\)"):
            sim(torch.zeros(2, 4), torch.zeros(1, 3))

    def test_wrong_weight_shape(self):
        sim = TorchStatevector(CircuitSpec(3, 2, encoding="angle-ry", ansatz="hea"))
        with pytest.raises(DataError, match=r"weights must have shape \(2, 3\) .*; got \(2, 4\)"):
            sim(torch.zeros(2, 3), torch.zeros(2, 4))

    def test_bad_dtype(self):
        with pytest.raises(BackendError, match="dtype must be torch.complex64 or torch.complex128"):
            TorchStatevector(CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea"), dtype=torch.float32)

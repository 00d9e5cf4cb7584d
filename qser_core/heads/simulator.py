"""Batched plain-torch statevector simulation of the circuits in :mod:`qser_core.heads.circuits`.

``python -m benchmarks --only simulator`` compares it with ``default.qubit``, ``lightning.qubit`` and Qiskit.

Why hand-written: PennyLane's ``default.qubit`` (backprop + parameter broadcasting)
spends most of an epoch in per-operation Python dispatch and generic tensor
contractions; ``lightning.qubit`` with the adjoint method differentiates one sample
at a time. Training a head needs the same small circuit on thousands of samples
with shared weights, which a dedicated batched simulator does 5-30x faster.

The circuit is still defined once, in PennyLane: :class:`TorchStatevector` queues
:meth:`CircuitSpec.apply <qser_core.heads.circuits.CircuitSpec.apply>` with *marker* parameter values
(input ``i`` → ``i + 1``, weight ``k`` → ``1000 + k``), decomposes the tape into
RX/RY/RZ/Rot/CNOT/CZ and reads back which parameter drives which gate. From that
gate list it compiles a short program:

* **local stages**: all single-qubit gates between two entangling blocks, fused per
  wire into one 2×2 matrix (e.g. encoding RY(x) then Rot(w) → one batched matrix),
  then grouped into Kronecker blocks of up to 4 wires (16×16) so a whole layer of
  rotations costs one batched matmul per block instead of one op per wire;
* **permutation stages**: every run of consecutive CNOT/CZ gates is one signed
  permutation of the amplitudes (an index gather and a ±1 multiply);
* the first local stage acts on ``|0…0⟩`` and is built directly as a product state;
* readout ``⟨Z_q⟩ = Σ |ψ|² · z_q`` is one real matmul.

Circuits made only of RY, CNOT and CZ (``hea`` with RY encodings) keep a real
statevector (float32/float64), which halves memory traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from qser_core.errors import BackendError, DataError
from qser_core.heads.circuits import GATE_SET, CircuitSpec

__all__ = ["TorchStatevector"]

_X_BASE, _W_BASE = 1.0, 1000.0  # marker values: input i → 1 + i, weight k → 1000 + k
_CHUNK = 4  # wires per Kronecker block (16×16 matrices): fewer ops, still cheap flops


@dataclass
class _Gate:
    name: str
    wire: int
    refs: list[int]  # indices into the joint parameter vector [inputs (n), weights (P)]
    data: bool  # depends on the inputs


@dataclass
class _Local:
    chains: dict[int, list[int]] = field(default_factory=dict)  # wire → gate ids, in time order
    data: bool = False


@dataclass
class _Perm:
    perm: np.ndarray
    sign: np.ndarray


class TorchStatevector(torch.nn.Module):
    """Batched statevector simulator of one circuit of :mod:`qser_core.heads.circuits`.

    Parameters
    ----------
    spec : CircuitSpec
        The circuit (qubits, layers, encoding, ansatz).
    dtype : torch.dtype, default=torch.complex64
        ``torch.complex64`` (training speed) or ``torch.complex128`` (agreement tests).
        Real-only circuits use the matching real dtype internally.

    Attributes
    ----------
    spec : CircuitSpec
    n_gates : int
        Gates of the decomposed circuit.
    n_stages : int
        Compiled stages (fused local layers + signed permutations).
    real : bool
        Whether the statevector stays real.

    Examples
    --------
    >>> sim = TorchStatevector(CircuitSpec(3, 2, encoding="angle-ry", ansatz="hea"))
    >>> sim(torch.zeros(5, 3), torch.zeros(2, 3)).shape
    torch.Size([5, 3])
    """

    def __init__(self, spec: CircuitSpec, *, dtype: torch.dtype = torch.complex64):
        super().__init__()
        if not isinstance(spec, CircuitSpec):
            raise TypeError(f"spec must be a CircuitSpec; got {type(spec).__name__}")
        if dtype not in (torch.complex64, torch.complex128):
            raise BackendError(f"dtype must be torch.complex64 or torch.complex128; got {dtype!r}")
        self.spec = spec
        self.n_qubits, self.weight_shape = spec.n_qubits, spec.weight_shape
        gates, stages = self._compile()
        self.real = all(g.name == "RY" for g in gates)
        self.cdtype = dtype
        self.dtype = (torch.float32 if dtype == torch.complex64 else torch.float64) if self.real else dtype
        self._build_tables(gates, stages)

    # ------------------------------------------------------------ compilation
    def _compile(self) -> tuple[list[_Gate], list[Any]]:
        n = self.n_qubits
        n_w = int(math.prod(self.weight_shape))
        x_mark = _X_BASE + np.arange(n, dtype=float)
        w_mark = (_W_BASE + np.arange(n_w, dtype=float)).reshape(self.weight_shape)
        tape = self.spec.tape(x_mark, w_mark)
        gates: list[_Gate] = []
        stages: list[Any] = [_Local()]
        n_two = 0
        for op in tape.operations:
            wires = [int(w) for w in op.wires]
            if op.name not in GATE_SET:
                raise BackendError(f"the torch simulator cannot run gate {op.name}; it runs {sorted(GATE_SET)}")
            if len(wires) == 1:
                refs = [self._ref(float(np.asarray(p)), n, n_w, op.name) for p in op.parameters]
                gate = _Gate(op.name, wires[0], refs, any(r < n for r in refs))
                gates.append(gate)
                if not isinstance(stages[-1], _Local):
                    stages.append(_Local())
                stages[-1].chains.setdefault(wires[0], []).append(len(gates) - 1)
                stages[-1].data |= gate.data
            else:
                n_two += 1
                perm, sign = _two_qubit_perm(op.name, wires, n)
                if isinstance(stages[-1], _Perm):  # compose: ψ2 = s2 · (s1 · ψ[p1])[p2]
                    prev = stages[-1]
                    stages[-1] = _Perm(prev.perm[perm], sign * prev.sign[perm])
                else:
                    stages.append(_Perm(perm, sign))
        self.n_gates = len(gates) + n_two
        return gates, stages

    @staticmethod
    def _ref(value: float, n: int, n_w: int, name: str) -> int:
        k = int(round(value))
        if abs(value - k) < 1e-9:
            if _X_BASE <= k < _X_BASE + n:
                return k - int(_X_BASE)
            if _W_BASE <= k < _W_BASE + n_w:
                return n + k - int(_W_BASE)
        raise BackendError(
            f"gate {name} has parameter {value}, which is not a plain input or weight; the torch simulator "
            "needs every gate angle to be one input or one weight (use executor=default.qubit)"
        )

    def _build_tables(self, gates: list[_Gate], stages: list[Any]) -> None:
        n = self.n_qubits
        # gate banks, per gate type and per data/weight kind: bank index 0 is the identity
        self._types: dict[str, dict[bool, list[int]]] = {}
        order = {True: [], False: []}
        for gid, g in enumerate(gates):
            order[g.data].append(gid)
        self._gate_refs = {}
        for kind in (True, False):
            by_type: dict[str, list[int]] = {}
            for gid in order[kind]:
                by_type.setdefault(gates[gid].name, []).append(gid)
            self._gate_refs[kind] = list(by_type.items())
        # bank order is by type (what the forward concatenates): the data bank holds
        # [I, data gates…, weight gates…], the weight bank [I, weight gates…]
        for kind in (True, False):
            flat = [gid for _, gids in self._gate_refs[kind] for gid in gids]
            order[kind] = flat
        pos_data = {gid: 1 + i for i, gid in enumerate(order[True] + order[False])}
        pos_w = {gid: 1 + i for i, gid in enumerate(order[False])}
        for kind in (True, False):
            for j, (name, gids) in enumerate(self._gate_refs[kind]):
                refs = torch.tensor([gates[g].refs for g in gids], dtype=torch.long)
                if not kind:  # weight-only gates index the weight vector alone
                    refs = refs - n
                self.register_buffer(f"_refs_{int(kind)}_{j}", refs, persistent=False)

        # stage programs
        self._program: list[tuple[str, int]] = []
        tables = {True: [], False: []}
        for st in stages:
            if isinstance(st, _Perm):
                idx = len([p for p in self._program if p[0] == "perm"])
                self.register_buffer(f"_perm_{idx}", torch.from_numpy(st.perm.astype(np.int64)), persistent=False)
                signed = not np.all(st.sign == 1)
                self.register_buffer(
                    f"_sign_{idx}", torch.from_numpy(st.sign.astype(np.float64)) if signed else torch.empty(0), persistent=False
                )
                self._program.append(("perm", idx))
                continue
            kind = st.data
            pos = pos_data if kind else pos_w
            length = max([len(c) for c in st.chains.values()] + [1])
            table = np.zeros((n, length), dtype=np.int64)
            for wire, chain in st.chains.items():
                table[wire, : len(chain)] = [pos[g] for g in chain]
            tables[kind].append(table)
            self._program.append(("local_data" if kind else "local_w", len(tables[kind]) - 1))
        for kind in (True, False):
            if tables[kind]:
                length = max(t.shape[1] for t in tables[kind])
                full = np.zeros((len(tables[kind]), n, length), dtype=np.int64)
                for i, t in enumerate(tables[kind]):
                    full[i, :, : t.shape[1]] = t
                self.register_buffer(f"_table_{int(kind)}", torch.from_numpy(full), persistent=False)
        self._has = {kind: bool(tables[kind]) for kind in (True, False)}
        self.n_stages = len(self._program)
        # Kronecker blocks: contiguous wire chunks of (almost) equal size, wire 0 most significant
        n_chunks = math.ceil(n / _CHUNK)
        sizes = [n // n_chunks + (1 if i < n % n_chunks else 0) for i in range(n_chunks)]
        self._chunks = []
        start = 0
        for size in sizes:
            self._chunks.append((start, size))
            start += size
        # ⟨Z_q⟩ signs per basis state
        bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
        self.register_buffer("_zsign", torch.from_numpy(1.0 - 2.0 * bits), persistent=False)

    # ----------------------------------------------------------------- forward
    def _bank(self, theta: torch.Tensor, kind: bool) -> list[torch.Tensor]:
        """Matrices ``(Bx, G, 2, 2)`` of the gates of ``kind``, per type, in bank order."""
        out = []
        for j, (name, _) in enumerate(self._gate_refs[kind]):
            refs = getattr(self, f"_refs_{int(kind)}_{j}")
            ang = theta[:, refs]  # (Bx, G, n_params)
            out.append(_matrices(name, ang, self.dtype))
        return out

    def forward(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Expectation values ``⟨Z_q⟩``.

        Parameters
        ----------
        inputs : torch.Tensor [shape=(B, n_qubits)]
            Input angles (one sample per row).
        weights : torch.Tensor [shape=weight_shape]
            Circuit weights (shared by all samples).

        Returns
        -------
        torch.Tensor [shape=(B, n_qubits)]
            Real expectation values, in the real dtype matching ``dtype``.
        """
        n = self.n_qubits
        if inputs.ndim != 2 or inputs.shape[1] != n:
            raise DataError(f"inputs must have shape (batch, {n}) (one angle per qubit); got {tuple(inputs.shape)}")
        if tuple(weights.shape) != self.weight_shape:
            raise DataError(f"weights must have shape {self.weight_shape} (the weight_shape of {self.spec}); "
                            f"got {tuple(weights.shape)}")
        real_dtype = torch.float32 if self.cdtype == torch.complex64 else torch.float64
        x = inputs.to(real_dtype)
        w = weights.to(real_dtype).reshape(1, -1)
        B = x.shape[0]
        fused = {}
        w_banks = self._bank(w, False)
        eye = torch.eye(2, dtype=self.dtype).unsqueeze(0).unsqueeze(0)
        if self._has[False]:
            bank = torch.cat([eye] + w_banks, dim=1)  # (1, 1+Gw, 2, 2)
            fused[False] = _fuse(bank, self._table_0)
        if self._has[True]:
            theta = torch.cat([x, w.expand(B, -1)], dim=1)
            d_banks = self._bank(theta, True)
            bank = torch.cat([eye.expand(B, 1, 2, 2)] + d_banks + [b.expand(B, -1, 2, 2) for b in w_banks], dim=1)
            fused[True] = _fuse(bank, self._table_1)

        psi = None
        for stage, (kind, idx) in enumerate(self._program):
            if kind == "perm":
                perm = getattr(self, f"_perm_{idx}")
                sign = getattr(self, f"_sign_{idx}")
                psi = psi.index_select(1, perm)
                if sign.numel():
                    psi = psi * sign.to(real_dtype)
            else:
                mats = fused[kind == "local_data"][:, idx]  # (Bx, n, 2, 2)
                psi = _product_state(mats[..., 0], B) if psi is None else self._apply_local(psi, mats)
            psi = self._after_stage(psi, stage)
        # |ψ|² as re² + im² (abs() has an undefined gradient at 0)
        probs = torch.view_as_real(psi).square().sum(-1) if psi.is_complex() else psi.square()
        return probs @ self._zsign.to(probs.dtype)

    def _after_stage(self, psi: torch.Tensor, stage: int) -> torch.Tensor:
        """Hook after each compiled stage (the noisy subclass inserts sampled Pauli errors here)."""
        return psi

    def _apply_local(self, psi: torch.Tensor, mats: torch.Tensor) -> torch.Tensor:
        B = psi.shape[0]
        n = self.n_qubits
        for start, size in self._chunks:
            kron = _kron(mats[:, start : start + size])  # (Bx, d, d)
            d = 2**size
            pre, post = 2**start, 2 ** (n - start - size)
            if post == 1:
                psi = torch.matmul(psi.view(B, pre, d), kron.transpose(-1, -2)).reshape(B, -1)
            elif pre == 1:
                psi = torch.matmul(kron, psi.view(B, d, post)).reshape(B, -1)
            else:
                psi = torch.matmul(kron.unsqueeze(1), psi.view(B, pre, d, post)).reshape(B, -1)
        return psi


# ------------------------------------------------------------------ helpers
def _two_qubit_perm(name: str, wires: list[int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gate as a signed permutation: ``ψ'[i] = sign[i] · ψ[perm[i]]``."""
    idx = np.arange(2**n)
    a, b = (1 << (n - 1 - wires[0])), (1 << (n - 1 - wires[1]))
    if name == "CNOT":
        perm = np.where(idx & a, idx ^ b, idx)
        return perm, np.ones(2**n)
    if name == "CZ":
        sign = np.where(((idx & a) > 0) & ((idx & b) > 0), -1.0, 1.0)
        return idx, sign
    raise BackendError(f"unsupported two-qubit gate {name}; the torch simulator runs CNOT and CZ")


def _matrices(name: str, ang: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """2×2 matrices ``(..., G, 2, 2)`` of gates ``name`` from angles ``(..., G, n_params)``."""
    if name == "RY":
        t = ang[..., 0] / 2
        c, s = torch.cos(t), torch.sin(t)
        m = torch.stack([c, -s, s, c], dim=-1)
        if dtype.is_complex:
            m = torch.complex(m, torch.zeros_like(m))
        return m.reshape(*m.shape[:-1], 2, 2).to(dtype)
    if name == "RX":
        t = ang[..., 0] / 2
        c, s = torch.cos(t), torch.sin(t)
        z = torch.zeros_like(c)
        re = torch.stack([c, z, z, c], dim=-1)
        im = torch.stack([z, -s, -s, z], dim=-1)
    elif name == "RZ":
        t = ang[..., 0] / 2
        c, s = torch.cos(t), torch.sin(t)
        z = torch.zeros_like(c)
        re = torch.stack([c, z, z, c], dim=-1)
        im = torch.stack([-s, z, z, s], dim=-1)
    elif name == "Rot":  # RZ(ω) RY(θ) RZ(φ)
        phi, theta, omega = ang[..., 0], ang[..., 1], ang[..., 2]
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        p, m_ = (phi + omega) / 2, (phi - omega) / 2
        cp, sp, cm, sm = torch.cos(p), torch.sin(p), torch.cos(m_), torch.sin(m_)
        re = torch.stack([cp * c, -cm * s, cm * s, cp * c], dim=-1)
        im = torch.stack([-sp * c, -sm * s, -sm * s, sp * c], dim=-1)
    else:
        raise BackendError(f"unsupported gate {name}")
    m = torch.complex(re, im).to(dtype)
    return m.reshape(*m.shape[:-1], 2, 2)


def _fuse(bank: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Per-stage, per-wire products of gate chains: ``(Bx, S, n, 2, 2)`` (later gates on the left)."""
    out = bank[:, table[..., 0]]
    for k in range(1, table.shape[-1]):
        out = torch.matmul(bank[:, table[..., k]], out)
    return out


def _product_state(cols: torch.Tensor, B: int) -> torch.Tensor:
    """``⊗_q cols[:, q]`` for ``cols (Bx, n, 2)`` → ``(B, 2**n)``, wire 0 most significant."""
    psi = cols[:, 0]
    for q in range(1, cols.shape[1]):
        psi = (psi.unsqueeze(-1) * cols[:, q].unsqueeze(1)).reshape(cols.shape[0], -1)
    return psi.expand(B, -1) if psi.shape[0] != B else psi


def _kron(mats: torch.Tensor) -> torch.Tensor:
    """Kronecker product over axis 1 of ``(Bx, c, 2, 2)`` → ``(Bx, 2**c, 2**c)``."""
    out = mats[:, 0]
    for q in range(1, mats.shape[1]):
        m = mats[:, q]
        d = out.shape[-1] * 2
        out = (out[:, :, None, :, None] * m[:, None, :, None, :]).reshape(out.shape[0], d, d)
    return out

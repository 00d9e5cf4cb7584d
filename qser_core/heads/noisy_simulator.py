"""Noise-aware training of the quantum head: sampled Pauli errors and readout error in the batched simulator.

``qser train --set head.noise_aware=true --set head.noise_backend=ibm_fez --set head.noise_scale=1`` trains
through :class:`NoisyTorchStatevector` (the ``torch.noisy`` executor) and normalises ⟨Z⟩ with :class:`ExpvalNorm`.

The idea is QuantumNAT's (Wang et al., DAC 2022): while training, insert Pauli errors after the gates
with the device's per-gate error rates, sampled afresh at every step, and apply the readout error's
effect on ⟨Z⟩, so the weights and the readout learn what survives the device's noise; normalise the
⟨Z⟩ vector, because depolarising noise shrinks it towards 0 and readout asymmetry shifts it.

How the errors enter the batched simulator (:class:`~qser_core.heads.simulator.TorchStatevector`,
whose compiled stages and gate kernels run unchanged): after each compiled stage — one fused layer
of single-qubit gates, or one run of CNOT/CZ gates — every wire of every sample independently gets
X, Y or Z (equal odds) with the stage's probability for that wire, ``1 - (1 - p)^k`` for its ``k``
gates there. One Pauli per sample and wire is a trajectory of the depolarising channel: X on a
set of wires is one gather of the amplitudes (index XOR a mask), Z a ±1 sign (the parity of
index AND a mask), Y their product up to a global phase. Both are linear in ψ, so gradients flow
through them unchanged. Placing an error at the end of its stage rather than after its own gate
is the approximation (a Pauli inside a run of CZ gates would be propagated through the rest).

Readout: with ``p01 = P(read 1 | 0)`` and ``p10 = P(read 0 | 1)`` the measured
``⟨Z⟩' = (1 - p01 - p10) ⟨Z⟩ + (p10 - p01)``, exactly, per wire. Optional shot noise (``shots``)
adds Gaussian noise of the binomial variance ``(1 - ⟨Z⟩'²) / shots``.

Modes: in training mode errors are sampled; in evaluation mode (validation during training) the
executor gives the *expected* damping instead, deterministic: ``⟨Z_q⟩ × Π_stages (1 - 4p/3)``
(exact for depolarising noise at the end of the circuit) then the readout map. With all rates zero
(λ = 0) both modes are exactly the ideal simulator.

The rates come as plain arrays (:class:`NoiseRates`); :mod:`qser_core.hardware.noise_aware` derives
them from a device's calibration, so this module needs no Qiskit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from qser_core.errors import ConfigError, DataError
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.simulator import TorchStatevector

__all__ = ["NoiseRates", "NoisyTorchStatevector", "ExpvalNorm"]

_MAX_P = 0.75  # a Pauli error probability of 3/4 already scrambles the qubit completely


@dataclass(frozen=True)
class NoiseRates:
    """Per-wire error rates of the head's circuit on one device (logical wire ``q`` = its qubit there).

    Attributes
    ----------
    p1 : np.ndarray [shape=(n_qubits,)]
        Probability of a Pauli error (X, Y or Z) after one single-qubit rotation on the wire.
    p2 : np.ndarray [shape=(n_qubits,)]
        Probability of a Pauli error on the wire after one two-qubit gate acting on it (routing
        SWAPs included, spread over the circuit's own two-qubit gates).
    readout : np.ndarray [shape=(n_qubits, 2)]
        ``P(read 1 | prepared 0)``, ``P(read 0 | prepared 1)``.
    source : dict
        Where they came from (backend, λ, layout, …), recorded with the run.
    """

    p1: np.ndarray
    p2: np.ndarray
    readout: np.ndarray
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(np.asarray(self.p1))
        for name, shape in (("p1", (n,)), ("p2", (n,)), ("readout", (n, 2))):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != shape or not np.all(np.isfinite(value)) or value.min(initial=0) < 0 \
                    or value.max(initial=0) > 1:
                raise DataError(f"noise rates {name} must be probabilities of shape {shape}; got {value!r}")
            object.__setattr__(self, name, value)

    @classmethod
    def zeros(cls, n_qubits: int, **source: Any) -> "NoiseRates":
        """No noise at all (λ = 0)."""
        return cls(np.zeros(n_qubits), np.zeros(n_qubits), np.zeros((n_qubits, 2)), source=dict(source))

    @property
    def n_qubits(self) -> int:
        return len(self.p1)

    @property
    def noiseless(self) -> bool:
        return not (self.p1.any() or self.p2.any() or self.readout.any())

    def scaled(self, noise_scale: float) -> "NoiseRates":
        """Every rate × λ (capped like :func:`qser_core.hardware.noise.device_slice`: readout at 1/2)."""
        lam = float(noise_scale)
        if not math.isfinite(lam) or lam < 0:
            raise ConfigError(f"noise scale λ must be a finite number ≥ 0; got {noise_scale!r}")
        return NoiseRates(np.minimum(self.p1 * lam, _MAX_P), np.minimum(self.p2 * lam, _MAX_P),
                          np.minimum(self.readout * lam, 0.5), source={**self.source, "noise_scale": lam})

    def as_dict(self) -> dict[str, Any]:
        """JSON-able rates (what a noise-aware head records)."""
        return {"p1": self.p1.tolist(), "p2": self.p2.tolist(), "readout": self.readout.tolist(), **self.source}


class NoisyTorchStatevector(TorchStatevector):
    """:class:`~qser_core.heads.simulator.TorchStatevector` with sampled Pauli errors and readout error.

    Parameters
    ----------
    spec : CircuitSpec
    rates : NoiseRates
        Per-wire error rates (:func:`qser_core.hardware.noise_aware.calibrated_rates`).
    shots : int, default=0
        Add shot noise of this many shots while training (0 = none).
    seed : int, default=0
        Seed of the error sampling (a generator of its own: the same seed gives the same errors).
    dtype : torch.dtype, default=torch.complex64

    Examples
    --------
    >>> spec = CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea")
    >>> sim = NoisyTorchStatevector(spec, NoiseRates.zeros(3))
    >>> bool((sim(torch.ones(4, 3), torch.ones(1, 3)) == TorchStatevector(spec)(torch.ones(4, 3), torch.ones(1, 3))).all())
    True
    """

    def __init__(self, spec: CircuitSpec, rates: NoiseRates, *, shots: int = 0, seed: int = 0,
                 dtype: torch.dtype = torch.complex64):
        super().__init__(spec, dtype=dtype)
        if rates.n_qubits != spec.n_qubits:
            raise DataError(f"noise rates are for {rates.n_qubits} qubits; the circuit has {spec.n_qubits}")
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
            raise ConfigError(f"shots must be a whole number ≥ 0 (0 = no shot noise); got {shots!r}")
        self.rates, self.shots, self.seed = rates, int(shots), int(seed)
        self.noiseless = rates.noiseless
        counts = self._stage_counts()
        local = np.array([kind != "perm" for kind, _ in self._program])[:, None]
        p = np.where(local, rates.p1[None, :], rates.p2[None, :])
        stage_p = 1.0 - (1.0 - p) ** counts
        self.register_buffer("_stage_p", torch.from_numpy(stage_p), persistent=False)
        a = 1.0 - rates.readout.sum(axis=1)
        damp = np.prod(1.0 - 4.0 * stage_p / 3.0, axis=0)
        self.register_buffer("_ro_scale", torch.from_numpy(a), persistent=False)
        self.register_buffer("_ro_shift", torch.from_numpy(rates.readout[:, 1] - rates.readout[:, 0]), persistent=False)
        self.register_buffer("_damp", torch.from_numpy(damp), persistent=False)
        n = self.n_qubits
        bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
        self.register_buffer("_bits", torch.from_numpy(bits.astype(np.float32)), persistent=False)
        self.register_buffer("_index", torch.arange(2**n), persistent=False)
        self.register_buffer("_pow2", torch.from_numpy(2 ** (n - 1 - np.arange(n))), persistent=False)
        self._gen: torch.Generator | None = None

    def __getstate__(self) -> dict[str, Any]:  # a torch.Generator does not pickle; it is re-seeded on use
        state = dict(super().__getstate__())
        state["_gen"] = None
        return state

    def _stage_counts(self) -> np.ndarray:
        """Gates per compiled stage and wire ``(n_stages, n_qubits)``, grouped exactly as the parent compiles."""
        n = self.n_qubits
        tape = self.spec.tape(np.ones(n), np.ones(self.weight_shape))
        rows: list[np.ndarray] = []
        last = None
        for op in tape.operations:
            kind = "local" if len(op.wires) == 1 else "perm"
            if kind != last:
                rows.append(np.zeros(n))
                last = kind
            for w in op.wires:
                rows[-1][int(w)] += 1
        if len(rows) != len(self._program):  # the parent's stage grouping changed: fail loudly, not silently
            raise DataError(f"noise stages ({len(rows)}) do not match the compiled program ({len(self._program)})")
        return np.stack(rows)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the error sampling (``seed`` or the constructor's): the same errors again."""
        self._gen = torch.Generator(device=self._index.device)
        self._gen.manual_seed(self.seed if seed is None else int(seed))

    def _after_stage(self, psi: torch.Tensor, stage: int) -> torch.Tensor:
        if self.noiseless or not self.training:
            return psi
        if self._gen is None:
            self.reseed()
        B = psi.shape[0]
        p = self._stage_p[stage]
        shape = (B, self.n_qubits)
        hit = torch.rand(shape, generator=self._gen, dtype=torch.float64) < p
        pauli = torch.randint(0, 3, shape, generator=self._gen)  # 0 = X, 1 = Y, 2 = Z
        flip_x, flip_z = hit & (pauli <= 1), hit & (pauli >= 1)
        if flip_x.any():
            mask = (flip_x.long() * self._pow2).sum(1)
            psi = psi.expand(B, -1).gather(1, self._index[None, :] ^ mask[:, None])
        if flip_z.any():
            parity = torch.remainder(flip_z.to(self._bits.dtype) @ self._bits.T, 2)  # (B, 2**n)
            sign = (1 - 2 * parity).to(psi.real.dtype)
            psi = psi * sign
        return psi

    def forward(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``⟨Z_q⟩`` with sampled errors (training) or their expected damping (evaluation)."""
        z = super().forward(inputs, weights)
        if self.noiseless:
            return z
        scale, shift = self._ro_scale.to(z.dtype), self._ro_shift.to(z.dtype)
        if not self.training:
            return z * self._damp.to(z.dtype) * scale + shift
        z = z * scale + shift
        if self.shots:
            if self._gen is None:
                self.reseed()
            noise = torch.randn(z.shape, generator=self._gen, dtype=z.dtype)
            z = z + noise * torch.sqrt(torch.clamp(1 - z.detach() ** 2, min=0) / self.shots)
        return z


class ExpvalNorm(nn.Module):
    """Post-measurement normalisation of the ⟨Z⟩ vector, per qubit: ``(z - mean) / sqrt(var + eps)``.

    While training it normalises each batch by its own statistics (as batch normalisation and
    QuantumNAT do) and keeps running ones for validation; after training :meth:`fit` sets them
    from the training clips alone and :meth:`fold_into` moves the map into the linear readout,
    so every later evaluation — torch, Aer or IBM hardware, which all read the readout's weights —
    applies exactly the same normalisation.

    Parameters
    ----------
    n_qubits : int
    momentum : float, default=0.1
    eps : float, default=1e-5
    """

    def __init__(self, n_qubits: int, *, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = float(momentum), float(eps)
        self.register_buffer("mean", torch.zeros(n_qubits))
        self.register_buffer("var", torch.ones(n_qubits))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.training and z.shape[0] > 1:
            mean, var = z.mean(0), z.var(0, unbiased=False)
            with torch.no_grad():
                self.mean.lerp_(mean.detach().to(self.mean.dtype), self.momentum)
                self.var.lerp_(z.detach().var(0, unbiased=True).to(self.var.dtype), self.momentum)
        else:
            mean, var = self.mean.to(z.dtype), self.var.to(z.dtype)
        return (z - mean) / torch.sqrt(var + self.eps)

    @torch.no_grad()
    def fit(self, z: torch.Tensor) -> None:
        """Set the statistics from ⟨Z⟩ of the training clips ``[shape=(n, n_qubits)]``."""
        if z.ndim != 2 or z.shape[1] != len(self.mean) or len(z) < 2:
            raise DataError(f"normalisation needs ⟨Z⟩ of at least 2 clips × {len(self.mean)} qubits; got {tuple(z.shape)}")
        self.mean.copy_(z.mean(0).to(self.mean.dtype))
        self.var.copy_(z.var(0, unbiased=False).to(self.var.dtype))

    @torch.no_grad()
    def fold_into(self, linear: nn.Linear) -> None:
        """``linear(norm(z)) == linear'(z)``: rescale the readout's weights, shift its bias, become the identity."""
        inv = 1.0 / torch.sqrt(self.var.double() + self.eps)
        weight = linear.weight.double() * inv[None, :]
        linear.bias.copy_((linear.bias.double() - weight @ self.mean.double()).to(linear.bias.dtype))
        linear.weight.copy_(weight.to(linear.weight.dtype))
        self.mean.zero_()
        self.var.fill_(1.0 - self.eps)

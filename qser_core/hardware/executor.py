"""The ``aer.noisy`` executor: the quantum head under a real device's noise, offline, in one job per call.

Registered in :mod:`qser_core.heads.executors`, so ``QuantumModule.use_executor("aer.noisy",
backend="ibm_torino", shots=1024)`` (or ``--set head.executor=aer.noisy``) evaluates a trained head
through the same export, transpile and primitive path as ``qser hardware run --fake``. Every call
is one Estimator job over all rows; shot sampling has no gradient, so this executor is for
evaluation, not training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from qser_core.heads.circuits import CircuitSpec

__all__ = ["NoisyAerExecutor", "aer_noisy"]


class NoisyAerExecutor:
    """``(angles (n, q), weights) -> ⟨Z⟩ (n, q)`` on ``AerSimulator.from_backend`` of a fake IBM device.

    Parameters
    ----------
    spec : CircuitSpec
    backend : str, default="ibm_fez"
        A fake backend name (:data:`qser_core.hardware.backends.FAKE_BACKENDS`).
    shots : int, default=1024
    noise_scale : float, default=1.0
        λ: gate and readout errors times λ (0 = noiseless sampling).
    optimization_level : int, default=1
    seed : int, default=0
        Transpiler and simulator seed.
    """

    def __init__(self, spec: CircuitSpec, *, backend: str = "ibm_fez", shots: int = 1024,
                 noise_scale: float = 1.0, optimization_level: int = 1, seed: int = 0) -> None:
        self.spec, self.backend, self.shots = spec, backend, int(shots)
        self.noise_scale, self.optimization_level, self.seed = float(noise_scale), optimization_level, seed
        self._cache: tuple[bytes, Any, Any] | None = None

    # the transpiled circuit and the device are rebuilt after unpickling (a head moves between processes)
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _cache=None)

    def _target(self, weights: np.ndarray):
        """The ISA circuit and its local target for these weights (transpiled once per weight set)."""
        from qser_core.hardware.backends import fake_backend
        from qser_core.hardware.circuit import export_circuit, transpile_for
        from qser_core.hardware.execute import local_target

        key = weights.tobytes()
        if self._cache is None or self._cache[0] != key:
            device = fake_backend(self.backend)
            isa = transpile_for(export_circuit(weights, spec=self.spec), device,
                                optimization_level=self.optimization_level, seed=self.seed)
            self._cache = (key, isa, local_target(isa, device, noise_scale=self.noise_scale, seed=self.seed))
        return self._cache[1], self._cache[2]

    def __call__(self, angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        from qser_core.hardware.execute import expectations, submit, wait

        isa, target = self._target(weights.detach().cpu().double().numpy())
        execution = submit(isa, angles.detach().cpu().double().numpy(), target=target, shots=self.shots,
                           seed=self.seed)
        values = expectations(wait(execution), primitive=execution.primitive, layout=execution.layout)
        dtype = angles.dtype if angles.is_floating_point() else torch.float64
        return torch.as_tensor(values, dtype=dtype, device=angles.device)


def aer_noisy(spec: CircuitSpec, **options: Any) -> NoisyAerExecutor:
    """Factory of the ``aer.noisy`` executor (options as :class:`NoisyAerExecutor`)."""
    return NoisyAerExecutor(spec, **options)

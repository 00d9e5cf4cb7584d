"""The quantum head: PQC → ⟨Z⟩ per qubit → linear readout to the six emotions.

``qser evaluate --set head.kind=quantum --set head.ansatz=strong --set head.n_layers=4``.

The circuit is a :class:`~qser_core.heads.circuits.CircuitSpec`; it runs on a named executor
(:mod:`qser_core.heads.executors`): ``torch`` (the batched statevector, for training),
``default.qubit`` (the reference), ``lightning.qubit`` (adjoint), or any registered later.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from qser_core.config import N_CLASSES, QUBIT_RANGE
from qser_core.heads.base import BaseTorchHead
from qser_core.heads.circuits import CircuitSpec
from qser_core.errors import ConfigError
from qser_core.heads.executors import get_executor
from qser_core.heads.noisy_simulator import ExpvalNorm
from qser_core.progress import RunContext

__all__ = ["QuantumModule", "QuantumHead", "quantum_param_count"]


def quantum_param_count(spec: CircuitSpec) -> int:
    """Trainable parameters of the quantum head: circuit weights + ``Linear(n_qubits, 6)``.

    Examples
    --------
    >>> quantum_param_count(CircuitSpec(8, 4, ansatz="strong"))
    150
    """
    return spec.n_params + spec.n_qubits * N_CLASSES + N_CLASSES


class QuantumModule(nn.Module):
    """PQC followed by a linear readout: ``(B, n_qubits)`` angles → ``(B, 6)`` logits.

    Parameters
    ----------
    spec : CircuitSpec
        The circuit.
    executor : str, default="torch"
        A name of :func:`~qser_core.heads.executors.executor_names`.
    normalise : bool, default=False
        Normalise ⟨Z⟩ per qubit before the readout (:class:`~qser_core.heads.noisy_simulator.ExpvalNorm`,
        noise-aware heads).
    **executor_options
        Passed to the executor's factory (e.g. ``dtype=torch.complex128`` for ``torch``).

    Attributes
    ----------
    spec : CircuitSpec
    weights : nn.Parameter [shape=spec.weight_shape]
        Circuit angles, initialised uniform in [0, 2π) (as ``qml.qnn.TorchLayer``).
    readout : nn.Linear
    executor : qser_core.heads.executors.Executor
        What turns (angles, weights) into ⟨Z⟩; swap it with :meth:`use_executor`.

    Examples
    --------
    >>> module = QuantumModule(CircuitSpec(3, 1, ansatz="hea"))
    >>> module(torch.zeros(2, 3)).shape
    torch.Size([2, 6])
    """

    def __init__(self, spec: CircuitSpec, *, executor: str = "torch", normalise: bool = False,
                 **executor_options: Any):
        super().__init__()
        self.spec = spec
        self.weights = nn.Parameter(torch.rand(spec.weight_shape) * 2 * math.pi)
        self.readout = nn.Linear(spec.n_qubits, N_CLASSES)
        self.norm = ExpvalNorm(spec.n_qubits) if normalise else None  # absent: old saved heads load unchanged
        self.executor = get_executor(executor, spec, **executor_options)

    def use_executor(self, name: str, **options: Any) -> "QuantumModule":
        """Run the same weights on another executor (e.g. train on ``torch``, then evaluate on hardware)."""
        self.executor = get_executor(name, self.spec, **options)
        return self

    def expvals(self, x: torch.Tensor) -> torch.Tensor:
        """``⟨Z_q⟩`` per sample and qubit ``[shape=(B, n_qubits)]``."""
        return self.executor(x, self.weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.expvals(x).to(self.readout.weight.dtype)
        return self.readout(z if self.norm is None else self.norm(z))


class QuantumHead(BaseTorchHead):
    """Quantum classifier head (sklearn estimator around :class:`QuantumModule`).

    The qubit count is the number of input columns; :meth:`fit` builds the
    :class:`~qser_core.heads.circuits.CircuitSpec` from it and the parameters below.

    Parameters
    ----------
    n_layers : int, default=2
        Ansatz layers (1-8).
    encoding : {"angle-ry", "angle-rx", "reupload"}, default="angle-ry"
    ansatz : {"basic", "strong", "hea"}, default="strong"
    executor : str, default="torch"
        A name of :func:`~qser_core.heads.executors.executor_names`.
    noise_aware : bool, default=False
        Train on ``torch.noisy`` (errors sampled from ``noise_backend``'s calibration × ``noise_scale``)
        with ⟨Z⟩ normalised; the normalisation is then fitted on the training clips and folded into the
        readout, and the fitted head runs on ``executor`` (noise-aware weights, ideal simulator).
    noise_backend : str, default="ibm_fez"
    noise_scale : float, default=1.0
    noise_shots : int, default=1024
        Shot noise of this many shots added to ⟨Z⟩ while training (0 = none): without it the normalised
        readout learns to lean on qubits whose ⟨Z⟩ varies less between clips than shot noise does.
    epochs, lr, batch_size, patience, weight_decay, seed
        As in :func:`qser_core.heads.training.fit_module`.

    Attributes
    ----------
    spec_ : CircuitSpec
        The fitted circuit.
    module_ : QuantumModule
    history_ : qser_core.heads.training.History
    n_params_ : int
        Trainable parameters (circuit weights + readout).
    circuit_stats_ : dict
        :meth:`CircuitSpec.stats <qser_core.heads.circuits.CircuitSpec.stats>` of the fitted circuit.
    noise_ : dict
        Noise-aware heads only: the error rates trained with and the ⟨Z⟩ normalisation (``mean``,
        ``std``, ``n_clips``: fitted on the training clips alone).
    classes_ : np.ndarray
        ``arange(6)``.
    n_features_in_ : int
        Qubits (= input columns, 2-12).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.uniform(0, np.pi, (60, 3)), np.arange(60) % 6
    >>> head = QuantumHead(n_layers=1, ansatz="hea", epochs=2).fit(X, y)
    >>> head.predict_proba(X).shape, head.n_params_
    ((60, 6), 27)
    """

    _min_features, _max_features = QUBIT_RANGE

    def __init__(self, *, n_layers: int = 2, encoding: str = "angle-ry", ansatz: str = "strong",
                 executor: str = "torch", noise_aware: bool = False, noise_backend: str = "ibm_fez",
                 noise_scale: float = 1.0, noise_shots: int = 1024, epochs: int = 200, lr: float = 0.05, batch_size: int = 64,
                 patience: int = 30, weight_decay: float = 0.0, seed: int = 0):
        self.n_layers = n_layers
        self.encoding = encoding
        self.ansatz = ansatz
        self.executor = executor
        self.noise_aware = noise_aware
        self.noise_backend = noise_backend
        self.noise_scale = noise_scale
        self.noise_shots = noise_shots
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.weight_decay = weight_decay
        self.seed = seed

    def _build_module(self, n_features: int) -> nn.Module:
        self.spec_ = CircuitSpec(n_features, self.n_layers, encoding=self.encoding, ansatz=self.ansatz)
        if self.noise_aware and getattr(self, "_noisy_fit", False):  # only while fitting: a loaded head runs ideally
            return QuantumModule(self.spec_, executor="torch.noisy", normalise=True, backend=self.noise_backend,
                                 noise_scale=float(self.noise_scale), shots=int(self.noise_shots),
                                 seed=int(self.seed))
        return QuantumModule(self.spec_, executor=self.executor, normalise=bool(self.noise_aware))

    def fit(self, X, y, *, X_val=None, y_val=None, context: RunContext | None = None):
        if self.noise_aware and self.executor != "torch":
            raise ConfigError(f"noise-aware training runs on the torch simulator; got head.executor={self.executor!r}. "
                              "Set head.executor=torch or head.noise_aware=false")
        self._noisy_fit = bool(self.noise_aware)
        try:
            super().fit(X, y, X_val=X_val, y_val=y_val, context=context)
        finally:
            self._noisy_fit = False
        if self.noise_aware:
            self._finish_noise_aware(self._check_X(X))
        self.circuit_stats_ = self.spec_.stats()
        return self
    fit.__doc__ = BaseTorchHead.fit.__doc__

    def _finish_noise_aware(self, X) -> None:
        """Fit ⟨Z⟩'s normalisation on the training clips (expected device noise), fold it into the readout,
        and run the fitted head on the ideal executor from now on."""
        module = self.module_
        module.eval()
        with torch.no_grad():
            z = module.expvals(torch.as_tensor(X)).to(module.readout.weight.dtype)
        module.norm.fit(z)
        self.noise_ = {"rates": module.executor.run.rates.as_dict(),
                       "norm": {"mean": module.norm.mean.tolist(), "std": module.norm.var.sqrt().tolist(),
                                "n_clips": int(len(X))}}
        module.norm.fold_into(module.readout)
        module.use_executor(self.executor)


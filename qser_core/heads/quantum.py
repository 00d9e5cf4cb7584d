"""The quantum head: PQC → ⟨Z⟩ per qubit → linear readout to the six emotions.

``qser evaluate --set head.kind=quantum --set head.ansatz=strong --set head.n_layers=4``.

The circuit comes from :mod:`qser_core.heads.circuits`; it runs on the batched torch
simulator (:class:`~qser_core.heads.simulator.TorchStatevector`, ``simulator="torch"``)
or on PennyLane's ``default.qubit`` (backprop, parameter broadcasting), the reference.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qser_core.config import N_CLASSES, QUBIT_RANGE, SIMULATORS
from qser_core.errors import ConfigError
from qser_core.heads import circuits
from qser_core.heads.base import BaseTorchHead
from qser_core.heads.simulator import TorchStatevector

__all__ = ["QuantumModule", "QuantumHead", "quantum_param_count"]


def quantum_param_count(*, n_qubits: int, n_layers: int, ansatz: str) -> int:
    """Trainable parameters of the quantum head: circuit weights + ``Linear(n_qubits, 6)``.

    Examples
    --------
    >>> quantum_param_count(n_qubits=8, n_layers=4, ansatz="strong")
    150
    """
    shape = circuits.weight_shape(n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz)
    return int(math.prod(shape)) + n_qubits * N_CLASSES + N_CLASSES


class QuantumModule(nn.Module):
    """PQC followed by a linear readout: ``(B, n_qubits)`` angles → ``(B, 6)`` logits.

    Parameters
    ----------
    n_qubits, n_layers : int
        Qubits (2-12) and ansatz layers (1-8).
    encoding : {"angle-ry", "angle-rx", "reupload"}
    ansatz : {"basic", "strong", "hea"}
    simulator : {"torch", "default.qubit"}, default="torch"
        Batched torch statevector (fast) or PennyLane ``default.qubit`` (reference).
    dtype : torch.dtype, default=torch.complex64
        Statevector precision of the torch simulator.

    Attributes
    ----------
    weights : nn.Parameter [shape=weight_shape]
        Circuit angles, initialised uniform in [0, 2π) (as ``qml.qnn.TorchLayer``).
    readout : nn.Linear
    """

    def __init__(self, *, n_qubits: int, n_layers: int, encoding: str, ansatz: str, simulator: str = "torch",
                 dtype: torch.dtype = torch.complex64):
        super().__init__()
        if simulator not in SIMULATORS:
            raise ConfigError(
                f"simulator must be one of {', '.join(SIMULATORS)}; got {simulator!r}. Set head.simulator"
            )
        shape = circuits.weight_shape(n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz, encoding=encoding)
        self.n_qubits, self.simulator = n_qubits, simulator
        self.weights = nn.Parameter(torch.rand(shape) * 2 * math.pi)
        self.readout = nn.Linear(n_qubits, N_CLASSES)
        if simulator == "torch":
            self.circuit = TorchStatevector(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz,
                                            dtype=dtype)
        else:
            self._qnode = circuits.make_qnode(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)

    def expvals(self, x: torch.Tensor) -> torch.Tensor:
        """``⟨Z_q⟩`` per sample and qubit ``[shape=(B, n_qubits)]``."""
        if self.simulator == "torch":
            return self.circuit(x, self.weights)
        # parameter broadcasting: one call for the whole batch
        return torch.stack(self._qnode(x, self.weights), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.expvals(x).to(self.readout.weight.dtype))


class QuantumHead(BaseTorchHead):
    """Quantum classifier head (sklearn estimator around :class:`QuantumModule`).

    Parameters
    ----------
    n_layers : int, default=2
        Ansatz layers (1-8).
    encoding : {"angle-ry", "angle-rx", "reupload"}, default="angle-ry"
    ansatz : {"basic", "strong", "hea"}, default="strong"
    simulator : {"torch", "default.qubit"}, default="torch"
    epochs, lr, batch_size, patience, weight_decay, seed
        As in :func:`qser_core.heads.training.fit_module`.

    Attributes
    ----------
    module_ : QuantumModule
    history_ : qser_core.heads.training.History
    n_params_ : int
        Trainable parameters (circuit weights + readout).
    circuit_stats_ : dict
        :func:`~qser_core.heads.circuits.circuit_stats` of the fitted circuit.
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
                 simulator: str = "torch", epochs: int = 200, lr: float = 0.05, batch_size: int = 64,
                 patience: int = 30, weight_decay: float = 0.0, seed: int = 0):
        self.n_layers = n_layers
        self.encoding = encoding
        self.ansatz = ansatz
        self.simulator = simulator
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.weight_decay = weight_decay
        self.seed = seed

    def _build_module(self, n_features: int) -> nn.Module:
        return QuantumModule(n_qubits=n_features, n_layers=self.n_layers, encoding=self.encoding,
                             ansatz=self.ansatz, simulator=self.simulator)

    def fit(self, X, y, *, X_val=None, y_val=None, callback=None, cancel=None):
        super().fit(X, y, X_val=X_val, y_val=y_val, callback=callback, cancel=cancel)
        self.circuit_stats_ = circuits.circuit_stats(n_qubits=self.n_features_in_, n_layers=self.n_layers,
                                                     encoding=self.encoding, ansatz=self.ansatz)
        return self
    fit.__doc__ = BaseTorchHead.fit.__doc__

"""Stage 4 — classifier heads: classical (logreg, MLP, parameter-matched MLP) and quantum (PQC).

Contract: every head is a scikit-learn estimator (:class:`~qser_core.heads.base.BaseTorchHead`)
around a torch module mapping ``(n, n_features)`` angles to ``(n, 6)`` logits, trained by the one
loop in :mod:`~qser_core.heads.training`; :func:`make_head` builds the one a config describes.
The quantum head's circuit is a :class:`~qser_core.heads.circuits.CircuitSpec`, run by a named
executor (:mod:`~qser_core.heads.executors`); :mod:`qser_core.hardware.circuit` turns it into Qiskit.
Imports run one way: circuits → simulator → executors → quantum; training → base → classical /
quantum → factory.
"""

from qser_core.heads.base import BaseTorchHead
from qser_core.heads.circuits import ANSATZE, ENCODINGS, CircuitSpec
from qser_core.heads.classical import ClassicalHead
from qser_core.heads.executors import executor_names, get_executor, register_executor
from qser_core.heads.factory import make_head
from qser_core.heads.quantum import QuantumHead, QuantumModule, quantum_param_count
from qser_core.heads.simulator import TorchStatevector

__all__ = [
    "ENCODINGS",
    "ANSATZE",
    "CircuitSpec",
    "BaseTorchHead",
    "ClassicalHead",
    "QuantumHead",
    "QuantumModule",
    "TorchStatevector",
    "executor_names",
    "get_executor",
    "register_executor",
    "make_head",
    "quantum_param_count",
]

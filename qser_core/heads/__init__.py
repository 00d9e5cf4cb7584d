"""Classifier heads: classical (logreg, MLP, parameter-matched MLP) and quantum (PQC).

All heads are scikit-learn estimators around torch modules trained by the one loop in
:mod:`qser_core.heads.training`; :func:`make_head` builds any of them from the config.
"""

from qser_core.heads.circuits import ANSATZE, ENCODINGS, circuit_stats, draw, make_qnode, weight_shape
from qser_core.heads.classical import ClassicalHead, make_head
from qser_core.heads.quantum import QuantumHead, QuantumModule, quantum_param_count
from qser_core.heads.simulator import TorchStatevector

__all__ = [
    "ENCODINGS",
    "ANSATZE",
    "circuit_stats",
    "draw",
    "make_qnode",
    "weight_shape",
    "ClassicalHead",
    "QuantumHead",
    "QuantumModule",
    "TorchStatevector",
    "make_head",
    "quantum_param_count",
]

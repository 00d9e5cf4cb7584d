"""Stage 4 — classifier heads: classical (logreg, MLP, parameter-matched MLP) and quantum (PQC).

Contract: every head is a scikit-learn estimator (:class:`~qser_core.heads.base.BaseTorchHead`)
around a torch module mapping ``(n, n_features)`` angles to ``(n, 6)`` logits, trained by the one
loop in :mod:`~qser_core.heads.training`; :func:`make_head` builds the one a config describes.
The quantum head's circuit is a :class:`~qser_core.heads.circuits.CircuitSpec`, run by a named
executor (:mod:`~qser_core.heads.executors`); :mod:`qser_core.hardware.circuit` turns it into Qiskit.
Imports run one way: circuits → simulator → executors → quantum; training → base → classical /
quantum → factory.
"""

from qser_core.lazy import lazy_exports

#: Public name → submodule. Imported on first use (PEP 562), so a classical head or a saved model's
#: loader never pays for PennyLane (1.2 s of the cold ``qser predict``, measured with -X importtime).
_EXPORTS = {
    "BaseTorchHead": "base",
    "ANSATZE": "circuits",
    "ENCODINGS": "circuits",
    "CircuitSpec": "circuits",
    "ClassicalHead": "classical",
    "executor_names": "executors",
    "get_executor": "executors",
    "register_executor": "executors",
    "make_head": "factory",
    "QuantumHead": "quantum",
    "QuantumModule": "quantum",
    "quantum_param_count": "quantum",
    "TorchStatevector": "simulator",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


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

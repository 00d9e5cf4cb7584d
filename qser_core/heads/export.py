"""The quantum head's circuit as a Qiskit circuit, transpiled for an IBM device.

``qser`` has no subcommand for this yet; the dashboard's Circuit page shows :func:`transpile_report`.

The circuit of a :class:`~qser_core.heads.circuits.CircuitSpec` is exported with PennyLane's own
OpenQASM 2 writer (``qml.to_openqasm``, templates decomposed into ``ry``/``rz``/``rx``/``cx``/``cz``)
and read back with ``qiskit.qasm2.loads`` — no hand-written gate mapping. IBM devices are the
offline fake backends of ``qiskit_ibm_runtime.fake_provider`` (real calibration snapshots), and
``qiskit.transpile`` maps the circuit onto their coupling map and native gates.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from qser_core.errors import BackendError, DataError
from qser_core.heads.circuits import CircuitSpec

__all__ = [
    "FAKE_BACKENDS",
    "to_openqasm",
    "to_qiskit",
    "fake_backend",
    "transpile_circuit",
    "qiskit_stats",
    "transpile_report",
]

#: IBM device name → offline fake backend class in ``qiskit_ibm_runtime.fake_provider``.
FAKE_BACKENDS: dict[str, str] = {
    "ibm_brisbane": "FakeBrisbane",
    "ibm_sherbrooke": "FakeSherbrooke",
    "ibm_kyiv": "FakeKyiv",
    "ibm_torino": "FakeTorino",
    "ibm_fez": "FakeFez",
    "ibm_marrakesh": "FakeMarrakesh",
}


def _angles(spec: CircuitSpec, inputs: Any, weights: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Given or placeholder (random, seeded) inputs and weights of the right shapes."""
    default_inputs, default_weights = spec.placeholder_angles(seed=seed)
    inputs = default_inputs if inputs is None else np.asarray(inputs, dtype=float)
    weights = default_weights if weights is None else np.asarray(weights, dtype=float)
    if inputs.shape != (spec.n_qubits,):
        raise DataError(f"inputs must have shape ({spec.n_qubits},) (one angle per qubit); got {inputs.shape}")
    if weights.shape != spec.weight_shape:
        raise DataError(f"weights must have shape {spec.weight_shape} (the weight_shape of {spec}); "
                        f"got {weights.shape}")
    return inputs, weights


def to_openqasm(spec: CircuitSpec, *, inputs: Any = None, weights: Any = None, seed: int = 0) -> str:
    """OpenQASM 2 text of the head's circuit for one set of angles.

    Parameters
    ----------
    spec : CircuitSpec
        The circuit.
    inputs : array-like [shape=(n_qubits,)], optional
        Encoded feature angles; random placeholders (seeded) if omitted.
    weights : array-like [shape=spec.weight_shape], optional
        Circuit weights; random placeholders (seeded) if omitted.
    seed : int, default=0
        Seed of the placeholder angles.

    Returns
    -------
    str
        Ends with a measurement of every qubit (the readout is ``⟨Z⟩`` on every wire).

    Raises
    ------
    DataError
        For inputs or weights of the wrong shape.
    """
    import pennylane as qml

    inputs, weights = _angles(spec, inputs, weights, seed)
    return qml.to_openqasm(spec.qnode(interface="numpy"), measure_all=True)(inputs, weights)


def to_qiskit(spec: CircuitSpec, *, measure: bool = True, inputs: Any = None, weights: Any = None, seed: int = 0):
    """The head's circuit as a ``qiskit.QuantumCircuit`` (other arguments as in :func:`to_openqasm`).

    Parameters
    ----------
    spec : CircuitSpec
        The circuit.
    measure : bool, default=True
        Keep the final measurement of every qubit (what a hardware run needs); ``False``
        gives the unitary part only (for statevector checks).

    Examples
    --------
    >>> qc = to_qiskit(CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea"))
    >>> qc.num_qubits, qc.count_ops()["cz"]
    (4, 6)
    """
    import qiskit.qasm2

    circuit = qiskit.qasm2.loads(to_openqasm(spec, inputs=inputs, weights=weights, seed=seed))
    if not measure:
        circuit.remove_final_measurements(inplace=True)
    return circuit


def fake_backend(name: str = "ibm_brisbane"):
    """The offline fake backend (real calibration snapshot) of an IBM device.

    Parameters
    ----------
    name : str, default="ibm_brisbane"
        A key of :data:`FAKE_BACKENDS`.

    Returns
    -------
    qiskit.providers.BackendV2

    Raises
    ------
    BackendError
        For a device without a fake backend here.
    """
    if name not in FAKE_BACKENDS:
        raise BackendError(
            f"no offline fake backend for IBM device {name!r}; choose one of {', '.join(FAKE_BACKENDS)}"
        )
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, FAKE_BACKENDS[name])()


def transpile_circuit(circuit, *, backend: str = "ibm_brisbane", optimization_level: int = 1, seed: int = 0):
    """``qiskit.transpile`` onto an IBM device's coupling map and native gates.

    Parameters
    ----------
    circuit : qiskit.QuantumCircuit
    backend : str, default="ibm_brisbane"
        A key of :data:`FAKE_BACKENDS`.
    optimization_level : int, default=1
        Qiskit transpiler optimisation level, 0-3.
    seed : int, default=0
        ``seed_transpiler`` (layout and routing are randomised).

    Returns
    -------
    qiskit.QuantumCircuit
    """
    from qiskit import transpile

    if optimization_level not in (0, 1, 2, 3):
        raise BackendError(f"optimization_level must be 0, 1, 2 or 3; got {optimization_level!r}")
    device = fake_backend(backend)
    if circuit.num_qubits > device.num_qubits:
        raise BackendError(f"the circuit needs {circuit.num_qubits} qubits but {backend} has {device.num_qubits}; "
                           "use fewer qubits or a larger device")
    with warnings.catch_warnings():
        # qiskit-ibm-runtime 0.45 still registers its deprecated IBMFractionalTranslationPlugin; stevedore loads
        # every translation plugin on the first transpile, which warns although we never select that one.
        warnings.filterwarnings("ignore", message=".*IBMFractionalTranslationPlugin is deprecated",
                                category=DeprecationWarning)
        return transpile(circuit, backend=device, optimization_level=optimization_level, seed_transpiler=seed)


def qiskit_stats(circuit) -> dict[str, Any]:
    """Size of a Qiskit circuit: ``depth``, ``two_qubit_depth``, ``two_qubit_gates``, ``gates``, ``ops``.

    Measurements and barriers are not counted as gates; ``depth`` is Qiskit's (measurements included).
    """
    skip = {"measure", "barrier"}
    two = [inst for inst in circuit.data if inst.operation.num_qubits == 2 and inst.operation.name not in skip]
    ops = {name: int(n) for name, n in circuit.count_ops().items()}
    return {
        "depth": int(circuit.depth()),
        "two_qubit_depth": int(circuit.depth(lambda inst: inst.operation.num_qubits == 2)),
        "two_qubit_gates": len(two),
        "gates": int(sum(n for name, n in ops.items() if name not in skip)),
        "ops": ops,
        "active_qubits": len({circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits}),
    }


def transpile_report(spec: CircuitSpec, *, backend: str = "ibm_brisbane", optimization_level: int = 1,
                     seed: int = 0) -> dict[str, Any]:
    """What the circuit becomes on an IBM device: sizes before and after ``qiskit.transpile``.

    Parameters
    ----------
    spec : CircuitSpec
        The circuit (placeholder angles; the sizes do not depend on them).
    backend : str, default="ibm_brisbane"
        A key of :data:`FAKE_BACKENDS`.
    optimization_level : int, default=1
        Qiskit transpiler optimisation level, 0-3.
    seed : int, default=0
        ``seed_transpiler`` and seed of the placeholder angles.

    Returns
    -------
    dict
        ``logical`` and ``transpiled`` (each :func:`qiskit_stats`), ``qasm`` (OpenQASM 2 of the
        logical circuit) and ``text`` (text drawing of the transpiled circuit, idle wires hidden).

    Raises
    ------
    BackendError
        For a device without a fake backend, a bad optimisation level or too few device qubits.

    Examples
    --------
    >>> report = transpile_report(CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea"), backend="ibm_torino")
    >>> report["logical"]["two_qubit_gates"], report["transpiled"]["two_qubit_gates"]
    (6, 6)
    """
    circuit = to_qiskit(spec, seed=seed)
    native = transpile_circuit(circuit, backend=backend, optimization_level=optimization_level, seed=seed)
    return {
        "logical": qiskit_stats(circuit),
        "transpiled": qiskit_stats(native),
        "qasm": to_openqasm(spec, seed=seed),
        "text": str(native.draw(output="text", idle_wires=False, fold=120)),
    }

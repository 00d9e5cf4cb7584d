"""Tests of qser_core.heads.export (PennyLane circuit → Qiskit, transpiled for fake IBM devices)."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.errors import BackendError, DataError
from qser_core.heads import export
from qser_core.heads.circuits import CircuitSpec

SETTINGS = [
    ("angle-ry", "strong"),
    ("angle-rx", "basic"),
    ("reupload", "hea"),
    ("reupload", "strong"),
]


class TestConversion:
    @pytest.mark.parametrize(("encoding", "ansatz"), SETTINGS)
    def test_same_expectations_as_pennylane(self, encoding, ansatz):
        from qiskit.quantum_info import Statevector

        spec = CircuitSpec(3, 2, encoding=encoding, ansatz=ansatz)
        inputs, weights = spec.placeholder_angles(seed=1)
        qc = export.to_qiskit(spec, inputs=inputs, weights=weights, measure=False)
        state = Statevector(qc)
        z_qiskit = [state.probabilities([q]) @ np.array([1.0, -1.0]) for q in range(spec.n_qubits)]
        qnode = spec.qnode(interface="numpy")
        z_pennylane = np.array(qnode(inputs, weights), dtype=float)
        np.testing.assert_allclose(z_qiskit, z_pennylane, atol=1e-8)

    @pytest.mark.parametrize(("encoding", "ansatz"), SETTINGS)
    def test_two_qubit_gates_match_circuit_stats(self, encoding, ansatz):
        spec = CircuitSpec(4, 2, encoding=encoding, ansatz=ansatz)
        stats = spec.stats()
        qc = export.to_qiskit(spec)
        assert export.qiskit_stats(qc)["two_qubit_gates"] == stats["two_qubit_gates"]

    def test_measurements_on_every_qubit(self):
        spec = CircuitSpec(5, 1, encoding="angle-ry", ansatz="basic")
        assert export.to_qiskit(spec).count_ops()["measure"] == 5
        assert "measure" not in export.to_qiskit(spec, measure=False).count_ops()


class TestTranspile:
    @pytest.mark.parametrize("backend", ["ibm_brisbane", "ibm_torino"])
    def test_native_gates_and_coupling(self, backend):
        qc = export.to_qiskit(CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong"))
        device = export.fake_backend(backend)
        tq = export.transpile_circuit(qc, backend=backend)
        native = set(device.operation_names) | {"measure", "barrier"}
        assert set(tq.count_ops()) <= native
        coupling = {tuple(edge) for edge in device.coupling_map.get_edges()}
        for inst in tq.data:
            if inst.operation.num_qubits == 2:
                pair = tuple(tq.find_bit(q).index for q in inst.qubits)
                assert pair in coupling or pair[::-1] in coupling
        stats = export.qiskit_stats(tq)
        assert stats["active_qubits"] >= 4
        assert stats["two_qubit_gates"] >= export.qiskit_stats(qc)["two_qubit_gates"]

    def test_hea_on_a_line_needs_no_swaps(self):
        # the CZ ladder fits a line of qubits, so the layout pass finds a perfect placement
        qc = export.to_qiskit(CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea"))
        tq = export.transpile_circuit(qc, backend="ibm_torino", optimization_level=1)
        assert export.qiskit_stats(tq)["two_qubit_gates"] == 6
        assert "swap" not in tq.count_ops()


class TestReport:
    def test_logical_and_native_sizes(self):
        spec = CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong")
        report = export.transpile_report(spec, backend="ibm_brisbane", optimization_level=1)
        assert set(report) == {"logical", "transpiled", "qasm", "text"}
        assert report["logical"] == export.qiskit_stats(export.to_qiskit(spec))
        assert report["logical"]["two_qubit_gates"] == spec.stats()["two_qubit_gates"]
        # brisbane's native two-qubit gate is ECR: every CNOT is rewritten, and routing only adds gates
        assert "ecr" in report["transpiled"]["ops"] and "cx" not in report["transpiled"]["ops"]
        assert report["transpiled"]["two_qubit_gates"] >= report["logical"]["two_qubit_gates"]
        assert report["qasm"].startswith("OPENQASM 2.0") and report["qasm"].count("measure") == 4

    def test_same_seed_same_report(self):
        spec = CircuitSpec(5, 1, encoding="reupload", ansatz="basic")
        assert export.transpile_report(spec, seed=3) == export.transpile_report(spec, seed=3)

    def test_errors_pass_through(self):
        with pytest.raises(BackendError, match="optimization_level must be 0, 1, 2 or 3; got 4"):
            export.transpile_report(CircuitSpec(2, 1), optimization_level=4)


class TestInputs:
    def test_unknown_backend(self):
        with pytest.raises(BackendError, match="no offline fake backend for IBM device 'ibm_nowhere'"):
            export.fake_backend("ibm_nowhere")

    def test_bad_optimization_level(self):
        qc = export.to_qiskit(CircuitSpec(2, 1, encoding="angle-ry", ansatz="basic"))
        with pytest.raises(BackendError, match="optimization_level must be 0, 1, 2 or 3; got 5"):
            export.transpile_circuit(qc, optimization_level=5)

    def test_weights_of_wrong_shape(self):
        with pytest.raises(DataError, match=r"weights must have shape \(1, 2, 3\) .*; got \(1, 2\)"):
            export.to_openqasm(CircuitSpec(2, 1, encoding="angle-ry", ansatz="strong"), weights=np.zeros((1, 2)))

    def test_inputs_of_wrong_shape(self):
        with pytest.raises(DataError, match=r"inputs must have shape \(2,\) \(one angle per qubit\); got \(3,\)"):
            export.to_openqasm(CircuitSpec(2, 1, encoding="angle-ry", ansatz="strong"), inputs=np.zeros(3))

    def test_too_many_qubits_for_the_device(self):
        from qiskit import QuantumCircuit

        wide = QuantumCircuit(200)
        with pytest.raises(BackendError, match="the circuit needs 200 qubits but ibm_brisbane has 127"):
            export.transpile_circuit(wide, backend="ibm_brisbane")

"""Tests of qser_core.heads.export (PennyLane circuit → Qiskit, transpiled for fake IBM devices)."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.errors import BackendError, ConfigError
from qser_core.heads import circuits, export

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

        n_qubits, n_layers = 3, 2
        rng = np.random.default_rng(1)
        shape = circuits.weight_shape(n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz)
        inputs, weights = rng.uniform(0, np.pi, n_qubits), rng.uniform(0, 2 * np.pi, shape)
        qc = export.to_qiskit(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz,
                              inputs=inputs, weights=weights, measure=False)
        state = Statevector(qc)
        z_qiskit = [state.probabilities([q]) @ np.array([1.0, -1.0]) for q in range(n_qubits)]
        qnode = circuits.make_qnode(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz,
                                    interface="numpy")
        z_pennylane = np.array(qnode(inputs, weights), dtype=float)
        np.testing.assert_allclose(z_qiskit, z_pennylane, atol=1e-8)

    @pytest.mark.parametrize(("encoding", "ansatz"), SETTINGS)
    def test_two_qubit_gates_match_circuit_stats(self, encoding, ansatz):
        stats = circuits.circuit_stats(n_qubits=4, n_layers=2, encoding=encoding, ansatz=ansatz)
        qc = export.to_qiskit(n_qubits=4, n_layers=2, encoding=encoding, ansatz=ansatz)
        assert export.qiskit_stats(qc)["two_qubit_gates"] == stats["two_qubit_gates"]

    def test_measurements_on_every_qubit(self):
        qc = export.to_qiskit(n_qubits=5, n_layers=1, encoding="angle-ry", ansatz="basic")
        assert qc.count_ops()["measure"] == 5
        assert "measure" not in export.to_qiskit(n_qubits=5, n_layers=1, encoding="angle-ry", ansatz="basic",
                                                 measure=False).count_ops()


class TestTranspile:
    @pytest.mark.parametrize("backend", ["ibm_brisbane", "ibm_torino"])
    def test_native_gates_and_coupling(self, backend):
        qc = export.to_qiskit(n_qubits=4, n_layers=2, encoding="angle-ry", ansatz="strong")
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
        qc = export.to_qiskit(n_qubits=4, n_layers=2, encoding="angle-ry", ansatz="hea")
        tq = export.transpile_circuit(qc, backend="ibm_torino", optimization_level=1)
        assert export.qiskit_stats(tq)["two_qubit_gates"] == 6
        assert "swap" not in tq.count_ops()


class TestInputs:
    def test_unknown_backend(self):
        with pytest.raises(BackendError, match="no offline fake backend for IBM device 'ibm_nowhere'"):
            export.fake_backend("ibm_nowhere")

    def test_bad_optimization_level(self):
        qc = export.to_qiskit(n_qubits=2, n_layers=1, encoding="angle-ry", ansatz="basic")
        with pytest.raises(BackendError, match="optimization_level must be 0, 1, 2 or 3; got 5"):
            export.transpile_circuit(qc, optimization_level=5)

    def test_weights_of_wrong_shape(self):
        with pytest.raises(BackendError, match=r"weights must have shape \(1, 2, 3\)"):
            export.to_openqasm(n_qubits=2, n_layers=1, encoding="angle-ry", ansatz="strong", weights=np.zeros((1, 2)))

    def test_bad_circuit_settings(self):
        with pytest.raises(ConfigError, match="ansatz must be one of"):
            export.to_openqasm(n_qubits=2, n_layers=1, encoding="angle-ry", ansatz="nope")

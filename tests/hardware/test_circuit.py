"""Tests of qser_core.hardware.circuit: parameterised export and one transpile."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware.backends import fake_backend
from qser_core.hardware.circuit import export_circuit, transpile_for
from qser_core.heads.circuits import CircuitSpec


def _weights(spec, seed=0):
    return np.random.default_rng(seed).uniform(0, 2 * np.pi, spec.weight_shape)


class TestExport:
    @pytest.mark.parametrize("encoding,ansatz", [("angle-ry", "strong"), ("angle-rx", "basic"), ("reupload", "hea"),
                                                 ("reupload", "strong")])
    def test_matches_pennylane_reference(self, encoding, ansatz):
        from qiskit.quantum_info import Statevector

        spec = CircuitSpec(3, 2, encoding=encoding, ansatz=ansatz)
        w = _weights(spec)
        hc = export_circuit(w, spec=spec)
        qnode = spec.qnode(interface="numpy", diff_method=None)
        for x in np.random.default_rng(1).uniform(0, np.pi, (3, 3)):
            state = Statevector(hc.circuit.assign_parameters(x))
            ours = [state.expectation_value(o).real for o in hc.observables]
            np.testing.assert_allclose(ours, qnode(x, w), atol=1e-9)

    def test_one_parameter_per_input_angle(self):
        spec = CircuitSpec(4, 3, encoding="reupload", ansatz="strong")
        hc = export_circuit(_weights(spec), spec=spec)
        assert [p.name for p in hc.circuit.parameters] == [f"x[{i}]" for i in range(4)]
        assert hc.circuit.num_clbits == 0

    def test_wrong_weight_shape(self):
        with pytest.raises(BackendError, match=r"weights must have shape \(2, 3, 3\)"):
            export_circuit(np.zeros((2, 3)), spec=CircuitSpec(3, 2, encoding="angle-ry", ansatz="strong"))

    def test_bad_ansatz(self):
        with pytest.raises(ConfigError, match="ansatz must be one of"):
            CircuitSpec(3, 2, encoding="angle-ry", ansatz="nope")


@pytest.fixture(scope="module")
def head_circuit():
    spec = CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea")
    return export_circuit(_weights(spec), spec=spec)


class TestTranspile:
    def test_reports_stats_and_keeps_parameters(self, head_circuit):
        isa = transpile_for(head_circuit, fake_backend("ibm_torino"), optimization_level=1)
        assert isa.circuit.num_parameters == 3
        assert isa.stats["two_qubit_gates"] >= 2 and isa.stats["depth"] > 0
        assert len(isa.layout) == 3 and isa.stats["device_qubits"] == 133
        assert isa.stats["duration_s"] > 0
        assert set(isa.stats["ops"]) <= {"cz", "rz", "sx", "x", "rx", "rzz"}  # Heron's native gates

    def test_initial_layout_is_honoured(self, head_circuit):
        isa = transpile_for(head_circuit, fake_backend("ibm_brisbane"), optimization_level=1,
                            initial_layout=[0, 1, 2])
        assert isa.layout == [0, 1, 2]

    def test_bad_layout(self, head_circuit):
        with pytest.raises(ConfigError, match="must name 3 distinct physical qubits"):
            transpile_for(head_circuit, fake_backend("ibm_brisbane"), initial_layout=[0, 0, 1])

    def test_bad_optimization_level(self, head_circuit):
        with pytest.raises(ConfigError, match="optimization_level must be 0, 1, 2 or 3; got 7"):
            transpile_for(head_circuit, fake_backend("ibm_brisbane"), optimization_level=7)

    def test_trials_keep_the_fewest_two_qubit_gates(self):
        spec = CircuitSpec(8, 2, encoding="angle-ry", ansatz="strong")  # routing on heavy-hex varies by seed
        circuit, device = export_circuit(_weights(spec), spec=spec), fake_backend("ibm_torino")
        single = [transpile_for(circuit, device, seed=s).stats["two_qubit_gates"] for s in range(4)]
        best = transpile_for(circuit, device, seed=0, trials=4)
        assert best.stats["two_qubit_gates"] == min(single) and best.stats["trials"] == 4
        assert single[best.stats["seed"]] == min(single)
        assert len(set(single)) > 1  # the seeds do differ here, so the choice is not vacuous

    def test_bad_trials(self, head_circuit):
        with pytest.raises(ConfigError, match="transpile trials must be an integer >= 1; got 0"):
            transpile_for(head_circuit, fake_backend("ibm_brisbane"), trials=0)


class TestReport:
    """The Circuit page's report: the same export and seed search as a hardware run."""

    def test_logical_and_native_sizes(self):
        from qser_core.hardware.circuit import transpile_report

        spec = CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong")
        report = transpile_report(spec, backend="ibm_brisbane", trials=2)
        assert report["logical"]["two_qubit_gates"] == spec.stats()["two_qubit_gates"]
        # brisbane's native two-qubit gate is ECR: every CNOT is rewritten, and routing only adds gates
        assert "ecr" in report["transpiled"]["ops"] and "cx" not in report["transpiled"]["ops"]
        assert report["transpiled"]["two_qubit_gates"] >= report["logical"]["two_qubit_gates"]
        assert report["transpiled"]["active_qubits"] >= 4 and report["seed_search"].startswith("fewest of 2")
        assert report["qasm"].startswith("OPENQASM 3.0") and "input float" in report["qasm"]

    def test_native_gates_and_coupling(self, head_circuit):
        device = fake_backend("ibm_fez")
        isa = transpile_for(head_circuit, device, trials=2)
        assert set(isa.circuit.count_ops()) <= set(device.operation_names)
        coupling = {tuple(edge) for edge in device.coupling_map.get_edges()}
        for inst in isa.circuit.data:
            if inst.operation.num_qubits == 2:
                pair = tuple(isa.circuit.find_bit(q).index for q in inst.qubits)
                assert pair in coupling or pair[::-1] in coupling

    def test_hea_on_a_line_needs_no_swaps(self):
        from qser_core.hardware.circuit import transpile_report

        report = transpile_report(CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea"), backend="ibm_torino")
        assert report["transpiled"]["two_qubit_gates"] == 6 and "swap" not in report["transpiled"]["ops"]

    def test_unknown_device(self):
        from qser_core.hardware.circuit import transpile_report

        with pytest.raises(BackendError, match="no offline fake backend for IBM device 'ibm_nowhere'"):
            transpile_report(CircuitSpec(2, 1), backend="ibm_nowhere")

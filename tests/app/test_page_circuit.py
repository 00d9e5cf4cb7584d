"""AppTest of the Circuit page."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, open_page


def _metrics(at):
    return {m.label: m.value for m in at.metric}


class TestCircuitPage:
    def test_draws_the_circuit_and_transpiles(self, demo_config):
        at = open_page("pages/circuit.py", config=demo_config)
        assert_clean(at)
        drawing = at.code[0].value
        assert drawing.count("\n") >= 3 and "RY" in drawing  # 4 wires, angle-ry encoding
        assert int(_metrics(at)["Two-qubit gates"]) > 0
        assert int(_metrics(at)["Physical qubits used"]) >= 4
        assert len(at.image) == 1  # the draw_mpl figure

    def test_settings_change_the_circuit(self, demo_config):
        at = open_page("pages/circuit.py", config=demo_config)
        at.selectbox(key="circuit.head.ansatz").set_value("hea")
        at.slider(key="circuit.head.n_layers").set_value(2)
        at.run()
        assert_clean(at)
        drawing = at.code[0].value
        # qml.draw marks a CZ target "╰Z" and a CNOT target "╰X": the HEA ladder has only the former
        assert drawing.count("╰Z") == 6 and "╰X" not in drawing
        assert int(_metrics(at)["Two-qubit gates"]) == 6  # CZ ladder 0-1, 1-2, 2-3 twice
        assert at.session_state["config"].head.ansatz == "hea"

    def test_shows_the_library_report(self, demo_config):
        # the page displays qser_core's transpile report and stats, not numbers of its own
        from qser_core.heads.circuits import CircuitSpec
        from qser_core.hardware.circuit import transpile_report

        at = open_page("pages/circuit.py", config=demo_config)
        config = at.session_state["config"]
        spec = CircuitSpec.from_config(config)
        report = transpile_report(spec, backend=config.hardware.backend,
                                  optimization_level=config.hardware.optimization_level)
        metrics = _metrics(at)
        assert int(metrics["Circuit weights"]) == spec.n_params
        assert int(metrics["Two-qubit depth"]) == report["transpiled"]["two_qubit_depth"]
        assert int(metrics["Physical qubits used"]) == report["transpiled"]["active_qubits"]
        gates = [m for m in at.metric if m.label == "Two-qubit gates"][-1]  # the transpiled one
        assert int(gates.value) == report["transpiled"]["two_qubit_gates"]
        assert gates.help == report["seed_search"] and report["seed_search"].startswith("fewest of 8 transpiler seeds")
        assert at.code[0].value == spec.draw()

    def test_other_device(self, demo_config):
        at = open_page("pages/circuit.py", config=demo_config)
        at.selectbox(key="circuit.hardware.backend").set_value("ibm_torino")
        at.run()
        assert_clean(at)
        assert any("cz ×" in c.value for c in at.main.caption)  # IBM Heron devices use CZ

    @pytest.mark.slow  # draws and transpiles a 12-qubit circuit
    def test_a_large_circuit_draws_its_first_layers_readably(self, demo_config):
        at = open_page("pages/circuit.py", config=demo_config.replace("head", n_layers=8).replace("reduce", n_qubits=12))
        assert_clean(at)
        assert len(at.image) == 1
        assert any("First 2 of 8 layers drawn" in c.value for c in at.main.caption)
        assert {"Trainable parameters", "Circuit weights"} <= set(_metrics(at))

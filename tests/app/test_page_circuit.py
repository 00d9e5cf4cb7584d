"""AppTest of the Circuit page."""

from __future__ import annotations

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
        assert "CZ" in at.code[0].value or "╭●" in at.code[0].value
        assert int(_metrics(at)["Two-qubit gates"]) == 6  # CZ ladder 0-1, 1-2, 2-3 twice
        assert at.session_state["config"].head.ansatz == "hea"

    def test_other_device(self, demo_config):
        at = open_page("pages/circuit.py", config=demo_config)
        at.selectbox(key="circuit.hardware.backend").set_value("ibm_torino")
        at.run()
        assert_clean(at)
        assert any("cz ×" in c.value for c in at.main.caption)  # IBM Heron devices use CZ

    def test_a_large_circuit_draws_its_first_layers_readably(self, demo_config):
        at = open_page("pages/circuit.py", config=demo_config.replace("head", n_layers=8).replace("reduce", n_qubits=12))
        assert_clean(at)
        assert len(at.image) == 1
        assert any("First 2 of 8 layers drawn" in c.value for c in at.main.caption)
        assert {"Trainable parameters", "Circuit weights"} <= set(_metrics(at))

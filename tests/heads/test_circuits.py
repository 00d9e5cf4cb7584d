"""Tests of qser_core.heads.circuits: blocks, shapes, QNode, stats, drawing."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core import config
from qser_core.errors import ConfigError
from qser_core.heads import circuits


class TestRegistry:
    def test_vocabulary_matches_config(self):
        assert tuple(circuits.ENCODINGS) == config.ENCODINGS
        assert tuple(circuits.ANSATZE) == config.ANSATZE

    @pytest.mark.parametrize("ansatz,expected", [("basic", (3, 5)), ("strong", (3, 5, 3)), ("hea", (3, 5))])
    def test_ansatz_shape(self, ansatz, expected):
        assert tuple(circuits.ANSATZE[ansatz].shape(3, 5)) == expected
        assert circuits.weight_shape(n_qubits=5, n_layers=3, ansatz=ansatz) == expected

    def test_encoding_shape_is_one_angle_per_qubit(self):
        for enc in circuits.ENCODINGS.values():
            assert enc.shape(3, 7) == (7,)


class TestDecomposition:
    def _ops(self, **kw):
        n = kw["n_qubits"]
        shape = circuits.weight_shape(n_qubits=n, n_layers=kw["n_layers"], ansatz=kw["ansatz"])
        tape = circuits.decomposed_tape(**kw, inputs=np.ones(n), weights=np.ones(shape))
        return [(op.name, op.wires.tolist()) for op in tape.operations]

    def test_hea_is_ry_and_cz_ladder(self):
        ops = self._ops(n_qubits=3, n_layers=1, encoding="angle-ry", ansatz="hea")
        assert ops == [("RY", [0]), ("RY", [1]), ("RY", [2]), ("RY", [0]), ("RY", [1]), ("RY", [2]),
                       ("CZ", [0, 1]), ("CZ", [1, 2])]

    def test_reupload_encodes_before_every_layer(self):
        ops = self._ops(n_qubits=2, n_layers=3, encoding="reupload", ansatz="basic")
        names = [name for name, _ in ops]
        assert names == ["RY", "RY", "RX", "RX", "CNOT"] * 3

    def test_angle_rx_uses_rx(self):
        ops = self._ops(n_qubits=2, n_layers=1, encoding="angle-rx", ansatz="strong")
        assert [n for n, _ in ops[:2]] == ["RX", "RX"]

    def test_reupload_strong_keeps_layer_ranges(self):
        # the CNOT pattern of layer l must equal that of StronglyEntanglingLayers' layer l
        ops = self._ops(n_qubits=4, n_layers=3, encoding="reupload", ansatz="strong")
        ref = self._ops(n_qubits=4, n_layers=3, encoding="angle-ry", ansatz="strong")
        assert [o for o in ops if o[0] == "CNOT"] == [o for o in ref if o[0] == "CNOT"]


class TestQNode:
    def test_outputs_expvals_in_range(self):
        qnode = circuits.make_qnode(n_qubits=3, n_layers=2, encoding="angle-ry", ansatz="strong", interface="numpy")
        rng = np.random.default_rng(0)
        out = np.array(qnode(rng.uniform(0, np.pi, 3), rng.uniform(0, 6, (2, 3, 3))))
        assert out.shape == (3,) and np.all(np.abs(out) <= 1)

    def test_zero_angles_give_all_ones_for_hea(self):
        qnode = circuits.make_qnode(n_qubits=3, n_layers=1, encoding="angle-ry", ansatz="hea", interface="numpy")
        np.testing.assert_allclose(qnode(np.zeros(3), np.zeros((1, 3))), np.ones(3), atol=1e-12)


class TestStats:
    def test_counts(self):
        s = circuits.circuit_stats(n_qubits=4, n_layers=2, encoding="angle-ry", ansatz="hea")
        assert s["circuit_params"] == 8
        assert s["params"] == 8 + 4 * 6 + 6
        assert s["two_qubit_gates"] == 6
        assert s["gates"] == 4 + 8 + 6
        assert s["depth"] >= 2 * 2 + 1

    def test_strong_counts(self):
        s = circuits.circuit_stats(n_qubits=8, n_layers=4, encoding="angle-ry", ansatz="strong")
        assert s["circuit_params"] == 96 and s["params"] == 150
        assert s["two_qubit_gates"] == 32
        assert s["gate_types"] == {"RY": 8, "Rot": 32, "CNOT": 32}

    def test_draw_has_every_wire(self):
        text = circuits.draw(n_qubits=3, n_layers=1, encoding="reupload", ansatz="hea")
        assert isinstance(text, str) and text.count("<Z>") == 3 and "RY" in text

    def test_figure_shows_every_wire(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = circuits.draw_figure(n_qubits=3, n_layers=1, encoding="angle-ry", ansatz="basic")
        labels = [t.get_text() for t in ax.texts]
        assert sum(label in ("0", "1", "2") for label in labels) == 3  # one label per wire
        plt.close(fig)


class TestInputs:
    @pytest.mark.parametrize(
        "kwargs,match",
        [
            (dict(n_qubits=1, n_layers=1, encoding="angle-ry", ansatz="hea"), "n_qubits must be an integer between 2 and 12; got 1"),
            (dict(n_qubits=13, n_layers=1, encoding="angle-ry", ansatz="hea"), "got 13"),
            (dict(n_qubits=4, n_layers=0, encoding="angle-ry", ansatz="hea"), "n_layers must be an integer between 1 and 8; got 0"),
            (dict(n_qubits=4, n_layers=9, encoding="angle-ry", ansatz="hea"), "got 9"),
            (dict(n_qubits=4, n_layers=1, encoding="amplitude", ansatz="hea"), "encoding must be one of angle-ry, angle-rx, reupload; got 'amplitude'"),
            (dict(n_qubits=4, n_layers=1, encoding="angle-ry", ansatz="qaoa"), "ansatz must be one of basic, strong, hea; got 'qaoa'"),
        ],
    )
    def test_bad_settings(self, kwargs, match):
        with pytest.raises(ConfigError, match=match):
            circuits.circuit_fn(**kwargs)

"""Tests of qser_core.heads.circuits: blocks, the CircuitSpec value, QNode, stats, drawing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pennylane as qml
import pytest

from qser_core import config
from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError
from qser_core.heads import circuits
from qser_core.heads.circuits import CircuitSpec


def _ops(spec: CircuitSpec) -> list[tuple[str, list[int]]]:
    tape = spec.tape(np.ones(spec.n_qubits), np.ones(spec.weight_shape))
    return [(op.name, op.wires.tolist()) for op in tape.operations]


class TestRegistry:
    def test_vocabulary_matches_config(self):
        assert tuple(circuits.ENCODINGS) == config.ENCODINGS
        assert tuple(circuits.ANSATZE) == config.ANSATZE

    @pytest.mark.parametrize("ansatz,expected", [("basic", (3, 5)), ("strong", (3, 5, 3)), ("hea", (3, 5))])
    def test_ansatz_shape(self, ansatz, expected):
        assert tuple(circuits.ANSATZE[ansatz].shape(3, 5)) == expected
        assert CircuitSpec(5, 3, ansatz=ansatz).weight_shape == expected

    def test_encoding_shape_is_one_angle_per_qubit(self):
        for enc in circuits.ENCODINGS.values():
            assert enc.shape(3, 7) == (7,)


class TestSpec:
    def test_sizes(self):
        spec = CircuitSpec(4, 3, encoding="reupload", ansatz="strong")
        assert spec.weight_shape == (3, 4, 3) and spec.n_params == 36 and spec.wires == [0, 1, 2, 3]

    def test_frozen_and_hashable(self):
        spec = CircuitSpec(4, 2)
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.n_qubits = 5  # type: ignore[misc]
        assert {spec: 1}[CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong")] == 1

    def test_numpy_integers_become_ints(self):
        spec = CircuitSpec(np.int64(4), np.int32(2))
        assert type(spec.n_qubits) is int and type(spec.n_layers) is int

    def test_from_config(self):
        cfg = QserConfig().with_overrides(["reduce.n_qubits=5", "head.n_layers=3", "head.encoding=reupload",
                                           "head.ansatz=hea"])
        assert CircuitSpec.from_config(cfg) == CircuitSpec(5, 3, encoding="reupload", ansatz="hea")


class TestDecomposition:
    def test_hea_is_ry_and_cz_ladder(self):
        ops = _ops(CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea"))
        assert ops == [("RY", [0]), ("RY", [1]), ("RY", [2]), ("RY", [0]), ("RY", [1]), ("RY", [2]),
                       ("CZ", [0, 1]), ("CZ", [1, 2])]

    def test_reupload_encodes_before_every_layer(self):
        names = [name for name, _ in _ops(CircuitSpec(2, 3, encoding="reupload", ansatz="basic"))]
        assert names == ["RY", "RY", "RX", "RX", "CNOT"] * 3

    def test_angle_rx_uses_rx(self):
        ops = _ops(CircuitSpec(2, 1, encoding="angle-rx", ansatz="strong"))
        assert [n for n, _ in ops[:2]] == ["RX", "RX"]

    def test_reupload_strong_keeps_layer_ranges(self):
        # the CNOT pattern of layer l must equal that of StronglyEntanglingLayers' layer l
        ops = _ops(CircuitSpec(4, 3, encoding="reupload", ansatz="strong"))
        ref = _ops(CircuitSpec(4, 3, encoding="angle-ry", ansatz="strong"))
        cnots = [o for o in ops if o[0] == "CNOT"]
        assert cnots == [o for o in ref if o[0] == "CNOT"]
        assert cnots[4] == ("CNOT", [0, 2])  # layer 1 has range 2 (layer 0 has range 1)


class TestQNode:
    def test_outputs_expvals_in_range(self):
        qnode = CircuitSpec(3, 2, encoding="angle-ry", ansatz="strong").qnode(interface="numpy")
        rng = np.random.default_rng(0)
        out = np.array(qnode(rng.uniform(0, np.pi, 3), rng.uniform(0, 6, (2, 3, 3))))
        assert out.shape == (3,) and np.all(np.abs(out) <= 1)

    def test_zero_angles_give_all_ones_for_hea(self):
        qnode = CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea").qnode(interface="numpy")
        np.testing.assert_allclose(qnode(np.zeros(3), np.zeros((1, 3))), np.ones(3), atol=1e-12)

    def test_batch_is_broadcast(self):
        qnode = CircuitSpec(3, 1, encoding="angle-rx", ansatz="basic").qnode(interface="numpy")
        out = np.array(qnode(np.zeros((4, 3)), np.zeros((1, 3))))
        assert out.shape == (3, 4)


class TestStats:
    def test_counts(self):
        s = CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea").stats()
        assert s["circuit_params"] == 8
        assert s["params"] == 8 + 4 * 6 + 6
        assert s["two_qubit_gates"] == 6
        assert s["gates"] == 4 + 8 + 6
        assert s["depth"] >= 2 * 2 + 1

    def test_strong_counts(self):
        s = CircuitSpec(8, 4, encoding="angle-ry", ansatz="strong").stats()
        assert s["circuit_params"] == 96 and s["params"] == 150
        assert s["two_qubit_gates"] == 32
        assert s["gate_types"] == {"RY": 8, "Rot": 32, "CNOT": 32}

    def test_draw_has_every_wire(self):
        text = CircuitSpec(3, 1, encoding="reupload", ansatz="hea").draw()
        assert isinstance(text, str) and text.count("<Z>") == 3 and "RY" in text

    def test_figure_shows_every_wire(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = CircuitSpec(3, 1, encoding="angle-ry", ansatz="basic").draw_figure()
        labels = [t.get_text() for t in ax.texts]
        assert sum(label in ("0", "1", "2") for label in labels) == 3  # one label per wire
        plt.close(fig)


class TestInputs:
    @pytest.mark.parametrize(
        "args,kwargs,match",
        [
            ((1, 1), {}, "n_qubits must be an integer between 2 and 12; got 1. Set reduce.n_qubits"),
            ((13, 1), {}, "got 13"),
            ((4.0, 1), {}, "n_qubits must be an integer between 2 and 12; got 4.0"),
            ((True, 1), {}, "n_qubits must be an integer between 2 and 12; got True"),
            ((4, 0), {}, "n_layers must be an integer between 1 and 8; got 0. Set head.n_layers"),
            ((4, 9), {}, "got 9"),
            ((4, 1), dict(encoding="amplitude"),
             "encoding must be one of angle-ry, angle-rx, reupload; got 'amplitude'"),
            ((4, 1), dict(ansatz="qaoa"), "ansatz must be one of basic, strong, hea; got 'qaoa'"),
        ],
    )
    def test_bad_settings(self, args, kwargs, match):
        with pytest.raises(ConfigError, match=match):
            CircuitSpec(*args, **kwargs)

    @pytest.mark.parametrize(
        "ansatz,weights,match",
        [
            # the HEA block once accepted weights of the wrong width silently
            ("hea", np.zeros((1, 4)), r"hea ansatz weights must have shape \(n_layers, n_qubits\) = \(1, 3\) for 3 "
                                      r"wires; got \(1, 4\)"),
            ("hea", np.zeros(3), r"hea ansatz weights must have shape .*; got \(3,\)"),
            ("basic", np.zeros((2, 2)),
             r"basic ansatz weights must have shape .* = \(2, 3\) for 3 wires; got \(2, 2\)"),
            ("strong", np.zeros((1, 3)), r"strong ansatz weights must have shape \(n_layers, n_qubits, 3\) = "
                                         r"\(1, 3, 3\) for 3 wires; got \(1, 3\)"),
        ],
    )
    def test_blocks_check_their_weights(self, ansatz, weights, match):
        with qml.queuing.AnnotatedQueue(), pytest.raises(DataError, match=match):
            circuits.ANSATZE[ansatz](weights, wires=[0, 1, 2])

    def test_encoding_checks_its_inputs(self):
        with qml.queuing.AnnotatedQueue(), pytest.raises(DataError, match=r"inputs must have shape \(3,\) or "
                                                                          r"\(batch, 3\) .*; got \(5, 4\)"):
            circuits.ENCODINGS["angle-ry"](np.zeros((5, 4)), wires=[0, 1, 2])

    def test_spec_checks_weights_against_its_layers(self):
        # right width, wrong number of layers: each block alone would accept it
        spec = CircuitSpec(3, 2, ansatz="hea")
        with pytest.raises(DataError, match=r"weights must have shape \(2, 3\) \(the weight_shape of CircuitSpec"):
            spec.qnode(interface="numpy")(np.zeros(3), np.zeros((1, 3)))

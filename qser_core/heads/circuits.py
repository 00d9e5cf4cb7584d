"""Encodings and ansätze of the quantum head, as small PennyLane blocks.

``qser train --set head.kind=quantum --set head.encoding=reupload --set head.ansatz=hea``
trains a head built from these blocks.

Each block exposes a static ``shape(n_layers, n_qubits)`` and is registered in a
name → block table (:data:`ENCODINGS`, :data:`ANSATZE`); the table keys are the
closed vocabulary of :data:`qser_core.config.ENCODINGS` / :data:`qser_core.config.ANSATZE`.
The circuit is defined once here (:func:`circuit_fn`); the reference QNode
(:func:`make_qnode`, ``default.qubit``) and the fast batched simulator
(:mod:`qser_core.heads.simulator`) both run exactly this circuit.

Circuit layout
--------------
* ``angle-ry`` / ``angle-rx``: ``qml.AngleEmbedding`` (one RY / RX per qubit) once,
  then all ansatz layers.
* ``reupload``: the RY angle embedding before *every* ansatz layer (data re-uploading).
* ``basic``: ``qml.BasicEntanglerLayers`` (RX per qubit + CNOT ring), weights ``(n_layers, n_qubits)``.
* ``strong``: ``qml.StronglyEntanglingLayers`` (Rot per qubit + CNOT ring of growing range),
  weights ``(n_layers, n_qubits, 3)``.
* ``hea``: hardware-efficient RY per qubit + CZ ladder (0-1, 1-2, …), weights ``(n_layers, n_qubits)``.

Readout is ``⟨Z⟩`` on every wire; the head adds ``nn.Linear(n_qubits, 6)``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import pennylane as qml

from qser_core import config as _config
from qser_core.config import LAYER_RANGE, N_CLASSES, QUBIT_RANGE
from qser_core.errors import ConfigError

__all__ = [
    "ENCODINGS",
    "ANSATZE",
    "GATE_SET",
    "AngleEncoding",
    "ReuploadEncoding",
    "BasicAnsatz",
    "StrongAnsatz",
    "HEAAnsatz",
    "check_circuit_args",
    "circuit_fn",
    "make_qnode",
    "weight_shape",
    "circuit_stats",
    "draw",
    "draw_figure",
]

#: Gates the circuits are decomposed into (what the torch simulator implements).
GATE_SET = frozenset({"RX", "RY", "RZ", "Rot", "CNOT", "CZ"})
MIN_QUBITS, MAX_QUBITS = QUBIT_RANGE
MIN_LAYERS, MAX_LAYERS = LAYER_RANGE


# ------------------------------------------------------------------ encodings
class AngleEncoding:
    """One rotation per qubit by the feature angle (``qml.AngleEmbedding``), applied once.

    Parameters
    ----------
    rotation : {"Y", "X"}
        Rotation axis of the embedding.
    """

    reupload = False

    def __init__(self, rotation: str) -> None:
        self.rotation = rotation

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Shape of the input features (one angle per qubit; no trainable weights)."""
        return (n_qubits,)

    def __call__(self, inputs: Any, *, wires: Sequence[int]) -> None:
        qml.AngleEmbedding(inputs, wires=wires, rotation=self.rotation)


class ReuploadEncoding(AngleEncoding):
    """RY angle embedding repeated before every ansatz layer (data re-uploading)."""

    reupload = True

    def __init__(self) -> None:
        super().__init__("Y")


# -------------------------------------------------------------------- ansätze
class BasicAnsatz:
    """``qml.BasicEntanglerLayers``: RX on each qubit, then a CNOT ring."""

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Weight shape ``(n_layers, n_qubits)``."""
        return qml.BasicEntanglerLayers.shape(n_layers=n_layers, n_wires=n_qubits)

    def __call__(self, weights: Any, *, wires: Sequence[int]) -> None:
        qml.BasicEntanglerLayers(weights, wires=wires)


class StrongAnsatz:
    """``qml.StronglyEntanglingLayers``: Rot on each qubit, then a CNOT ring of growing range."""

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Weight shape ``(n_layers, n_qubits, 3)``."""
        return qml.StronglyEntanglingLayers.shape(n_layers=n_layers, n_wires=n_qubits)

    def __call__(self, weights: Any, *, wires: Sequence[int]) -> None:
        qml.StronglyEntanglingLayers(weights, wires=wires)


class HEAAnsatz:
    """Hardware-efficient ansatz: RY on each qubit, then a CZ ladder (0-1, 1-2, …, n-2 - n-1).

    Hand-written because PennyLane has no template with this exact layout (it is the
    RY + CZ pattern that maps to IBM hardware without SWAPs on a line of qubits).
    """

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Weight shape ``(n_layers, n_qubits)``."""
        return (n_layers, n_qubits)

    def __call__(self, weights: Any, *, wires: Sequence[int]) -> None:
        wires = list(wires)
        for layer in range(weights.shape[0]):
            for i, w in enumerate(wires):
                qml.RY(weights[layer, i], wires=w)
            for a, b in zip(wires[:-1], wires[1:]):
                qml.CZ(wires=[a, b])


#: Encoding name → block (keys equal :data:`qser_core.config.ENCODINGS`).
ENCODINGS: dict[str, AngleEncoding] = {
    "angle-ry": AngleEncoding("Y"),
    "angle-rx": AngleEncoding("X"),
    "reupload": ReuploadEncoding(),
}
#: Ansatz name → block (keys equal :data:`qser_core.config.ANSATZE`).
ANSATZE: dict[str, Any] = {"basic": BasicAnsatz(), "strong": StrongAnsatz(), "hea": HEAAnsatz()}

assert tuple(ENCODINGS) == _config.ENCODINGS and tuple(ANSATZE) == _config.ANSATZE


# ------------------------------------------------------------------ circuits
def check_circuit_args(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str) -> None:
    """Raise :class:`ConfigError` unless the four circuit settings are valid."""
    if encoding not in ENCODINGS:
        raise ConfigError(
            f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}. Pick one with --set head.encoding=..."
        )
    if ansatz not in ANSATZE:
        raise ConfigError(
            f"ansatz must be one of {', '.join(ANSATZE)}; got {ansatz!r}. Pick one with --set head.ansatz=..."
        )
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or not MIN_QUBITS <= n_qubits <= MAX_QUBITS:
        raise ConfigError(
            f"n_qubits must be an integer between {MIN_QUBITS} and {MAX_QUBITS}; got {n_qubits!r}. "
            "Set reduce.n_qubits accordingly"
        )
    if isinstance(n_layers, bool) or not isinstance(n_layers, (int, np.integer)) or not MIN_LAYERS <= n_layers <= MAX_LAYERS:
        raise ConfigError(
            f"n_layers must be an integer between {MIN_LAYERS} and {MAX_LAYERS}; got {n_layers!r}. "
            "Set head.n_layers accordingly"
        )


def weight_shape(*, n_qubits: int, n_layers: int, ansatz: str, encoding: str = "angle-ry") -> tuple[int, ...]:
    """Shape of the trainable circuit weights.

    Parameters
    ----------
    n_qubits : int
        Qubits (= input features), 2-12.
    n_layers : int
        Ansatz layers, 1-8.
    ansatz : {"basic", "strong", "hea"}
        Ansatz name.
    encoding : str, default="angle-ry"
        Encoding name (does not change the shape; accepted for a uniform signature).

    Returns
    -------
    tuple of int
        ``(n_layers, n_qubits)`` for basic/hea, ``(n_layers, n_qubits, 3)`` for strong.

    Examples
    --------
    >>> weight_shape(n_qubits=4, n_layers=2, ansatz="strong")
    (2, 4, 3)
    """
    check_circuit_args(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    return tuple(int(s) for s in ANSATZE[ansatz].shape(n_layers, n_qubits))


def circuit_fn(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str) -> Callable:
    """The circuit as a function ``f(inputs, weights) -> [⟨Z_0⟩, …, ⟨Z_{n-1}⟩]``.

    Parameters
    ----------
    n_qubits, n_layers : int
        Qubits (2-12) and ansatz layers (1-8).
    encoding : {"angle-ry", "angle-rx", "reupload"}
    ansatz : {"basic", "strong", "hea"}

    Returns
    -------
    callable
        ``f(inputs [shape=(..., n_qubits)], weights [shape=weight_shape(...)])`` that queues
        the gates and returns one ``qml.expval(qml.PauliZ(w))`` per wire; wrap it in a QNode
        (:func:`make_qnode`) to run it.
    """
    check_circuit_args(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    enc, ans = ENCODINGS[encoding], ANSATZE[ansatz]
    wires = list(range(n_qubits))

    def f(inputs, weights):
        if enc.reupload:
            for layer in range(n_layers):
                enc(inputs, wires=wires)
                _apply_layer(ans, weights[layer : layer + 1], layer, wires)
        else:
            enc(inputs, wires=wires)
            ans(weights, wires=wires)
        return [qml.expval(qml.PauliZ(w)) for w in wires]

    return f


def _apply_layer(ans: Any, weights: Any, layer: int, wires: list[int]) -> None:
    if isinstance(ans, StrongAnsatz):
        # keep the range pattern of layer ``layer`` of a full StronglyEntanglingLayers
        n = len(wires)
        qml.StronglyEntanglingLayers(weights, wires=wires, ranges=[(layer % (n - 1)) + 1])
    else:
        ans(weights, wires=wires)


def make_qnode(
    *,
    n_qubits: int,
    n_layers: int,
    encoding: str,
    ansatz: str,
    device: str = "default.qubit",
    diff_method: str = "backprop",
    interface: str = "torch",
) -> qml.QNode:
    """A PennyLane QNode of the circuit (the reference implementation).

    Parameters
    ----------
    n_qubits, n_layers, encoding, ansatz
        As in :func:`circuit_fn`.
    device : str, default="default.qubit"
        PennyLane device name.
    diff_method : str, default="backprop"
    interface : str, default="torch"

    Returns
    -------
    qml.QNode
        Call it as ``qnode(inputs, weights)``; inputs may carry a leading batch dimension
        (parameter broadcasting). Returns a list of ``n_qubits`` expectation values.
    """
    fn = circuit_fn(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    dev = qml.device(device, wires=n_qubits)
    return qml.QNode(fn, dev, diff_method=diff_method, interface=interface)


def decomposed_tape(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str, inputs: Any, weights: Any):
    """The circuit's tape decomposed into :data:`GATE_SET` for given parameter values."""
    fn = circuit_fn(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    with qml.queuing.AnnotatedQueue() as queue:
        fn(inputs, weights)
    tape = qml.tape.QuantumScript.from_queue(queue)
    (tape,), _ = qml.transforms.decompose(tape, gate_set=set(GATE_SET))
    return tape


def circuit_stats(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str) -> dict[str, Any]:
    """Size of the head: trainable parameters, depth and gate counts of the decomposed circuit.

    Parameters
    ----------
    n_qubits, n_layers, encoding, ansatz
        As in :func:`circuit_fn`.

    Returns
    -------
    dict
        ``params`` (trainable parameters of the whole head: circuit weights plus the
        ``Linear(n_qubits, 6)`` readout), ``circuit_params``, ``depth``, ``two_qubit_gates``,
        ``gates`` (total) and ``gate_types`` (name → count), from ``qml.specs`` of the circuit
        decomposed into :data:`GATE_SET`.

    Examples
    --------
    >>> s = circuit_stats(n_qubits=4, n_layers=2, encoding="angle-ry", ansatz="hea")
    >>> s["params"], s["circuit_params"], s["two_qubit_gates"]
    (38, 8, 6)
    """
    shape = weight_shape(n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz, encoding=encoding)
    fn = circuit_fn(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    qnode = qml.QNode(fn, qml.device("default.qubit", wires=n_qubits))
    qnode = qml.transforms.decompose(qnode, gate_set=set(GATE_SET))
    rng = np.random.default_rng(0)
    specs = qml.specs(qnode, level="device")(rng.uniform(0, np.pi, n_qubits), rng.uniform(0, 2 * np.pi, shape))
    res = specs.resources
    circuit_params = int(math.prod(shape))
    return {
        "params": circuit_params + n_qubits * N_CLASSES + N_CLASSES,
        "circuit_params": circuit_params,
        "depth": int(res.depth),
        "two_qubit_gates": int(res.gate_sizes.get(2, 0)),
        "gates": int(res.num_gates),
        "gate_types": dict(res.gate_types),
    }


def _placeholder_run(drawer, *, n_qubits: int, n_layers: int, encoding: str, ansatz: str):
    """Call ``drawer(qnode)`` on the circuit with seeded placeholder angles (inputs in [0, π])."""
    shape = weight_shape(n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz, encoding=encoding)
    fn = circuit_fn(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
    qnode = qml.QNode(fn, qml.device("default.qubit", wires=n_qubits))
    rng = np.random.default_rng(0)
    return drawer(qnode)(rng.uniform(0, np.pi, n_qubits), rng.uniform(0, 2 * np.pi, shape))


def draw(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str, decimals: int | None = None) -> str:
    """Text drawing of the circuit (``qml.draw``), templates expanded to gates.

    Parameters
    ----------
    n_qubits, n_layers, encoding, ansatz
        As in :func:`circuit_fn`.
    decimals : int or None, default=None
        Digits of the (random placeholder) angles to show; ``None`` hides them.

    Returns
    -------
    str
    """
    return _placeholder_run(lambda q: qml.draw(q, decimals=decimals, level="device"),
                            n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)


def draw_figure(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str):
    """Matplotlib drawing of the circuit (``qml.draw_mpl``), templates expanded to gates.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes
    """
    return _placeholder_run(lambda q: qml.draw_mpl(q, level="device", style="pennylane"),
                            n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)

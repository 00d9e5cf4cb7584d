"""Encodings and ansätze of the quantum head, as small PennyLane blocks, and the circuit they make.

``qser train --set head.kind=quantum --set head.encoding=reupload --set head.ansatz=hea``
trains a head built from these blocks.

Each block exposes a static ``shape(n_layers, n_qubits)``, checks its inputs or weights with a
"must …; got …" message and is registered in a name → block table (:data:`ENCODINGS`,
:data:`ANSATZE`); the table keys are the closed vocabulary of :data:`qser_core.config.ENCODINGS` /
:data:`qser_core.config.ANSATZE`. A :class:`CircuitSpec` (qubits, layers, encoding, ansatz) is
the one value that names a circuit: validated once, it knows its weight shape, parameter count,
QNode, drawing and size. The reference QNode (:meth:`CircuitSpec.qnode`), the fast batched
simulator (:mod:`qser_core.heads.simulator`), the executors (:mod:`qser_core.heads.executors`)
and the Qiskit export (:mod:`qser_core.hardware.circuit`) all run exactly :meth:`CircuitSpec.apply`.

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
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pennylane as qml

from qser_core import config as _config
from qser_core.config import LAYER_RANGE, N_CLASSES, QUBIT_RANGE, QserConfig
from qser_core.errors import ConfigError, DataError

__all__ = [
    "ENCODINGS",
    "ANSATZE",
    "GATE_SET",
    "CircuitSpec",
    "AngleEncoding",
    "ReuploadEncoding",
    "BasicAnsatz",
    "StrongAnsatz",
    "HEAAnsatz",
]

#: Gates the circuits are decomposed into (what the torch simulator implements).
GATE_SET = frozenset({"RX", "RY", "RZ", "Rot", "CNOT", "CZ"})


def _shape_of(values: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in getattr(values, "shape", np.shape(values)))


# ------------------------------------------------------------------ encodings
class AngleEncoding:
    """One rotation per qubit by the feature angle (``qml.AngleEmbedding``), applied once.

    Parameters
    ----------
    rotation : {"Y", "X"}
        Rotation axis of the embedding.

    Raises
    ------
    DataError
        When called with inputs whose last dimension is not the number of wires.
    """

    reupload = False

    def __init__(self, rotation: str) -> None:
        self.rotation = rotation

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Shape of the input features (one angle per qubit; no trainable weights)."""
        return (n_qubits,)

    def __call__(self, inputs: Any, *, wires: Sequence[int]) -> None:
        got = _shape_of(inputs)  # a leading batch dimension is allowed (parameter broadcasting)
        if len(got) not in (1, 2) or got[-1] != len(wires):
            raise DataError(f"inputs must have shape ({len(wires)},) or (batch, {len(wires)}) (one angle per "
                            f"qubit); got {got}")
        qml.AngleEmbedding(inputs, wires=wires, rotation=self.rotation)


class ReuploadEncoding(AngleEncoding):
    """RY angle embedding repeated before every ansatz layer (data re-uploading)."""

    reupload = True

    def __init__(self) -> None:
        super().__init__("Y")


# -------------------------------------------------------------------- ansätze
class _Ansatz:
    """Shared by the ansätze: ``block(weights, *, wires, layer=0)`` applies ``len(weights)`` layers.

    ``layer`` is the index of the first layer applied (re-uploading calls the block one layer at a
    time); ``check`` raises :class:`DataError` unless ``weights`` has ``shape(n_layers, len(wires))``.
    """

    name = ""

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        raise NotImplementedError

    def check(self, weights: Any, wires: Sequence[int]) -> None:
        got = _shape_of(weights)
        expected = self.shape(got[0] if got else 1, len(wires))
        if got != tuple(expected):
            layout = ", ".join(["n_layers", "n_qubits", "3"][: len(expected)])
            raise DataError(
                f"{self.name} ansatz weights must have shape ({layout}) = {tuple(expected)} for {len(wires)} "
                f"wires; got {got}"
            )


class BasicAnsatz(_Ansatz):
    """``qml.BasicEntanglerLayers``: RX on each qubit, then a CNOT ring."""

    name = "basic"

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Weight shape ``(n_layers, n_qubits)``."""
        return tuple(qml.BasicEntanglerLayers.shape(n_layers=n_layers, n_wires=n_qubits))

    def __call__(self, weights: Any, *, wires: Sequence[int], layer: int = 0) -> None:
        self.check(weights, wires)
        qml.BasicEntanglerLayers(weights, wires=wires)


class StrongAnsatz(_Ansatz):
    """``qml.StronglyEntanglingLayers``: Rot on each qubit, then a CNOT ring of growing range."""

    name = "strong"

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Weight shape ``(n_layers, n_qubits, 3)``."""
        return tuple(qml.StronglyEntanglingLayers.shape(n_layers=n_layers, n_wires=n_qubits))

    def __call__(self, weights: Any, *, wires: Sequence[int], layer: int = 0) -> None:
        """Apply the layers; ``layer`` is the index of the first one (keeps the CNOT ranges of a full stack)."""
        self.check(weights, wires)
        n = len(wires)
        ranges = [((layer + k) % (n - 1)) + 1 for k in range(_shape_of(weights)[0])]
        qml.StronglyEntanglingLayers(weights, wires=wires, ranges=ranges)


class HEAAnsatz(_Ansatz):
    """Hardware-efficient ansatz: RY on each qubit, then a CZ ladder (0-1, 1-2, …, n-2 - n-1).

    Hand-written because PennyLane has no template with this exact layout (it is the
    RY + CZ pattern that maps to IBM hardware without SWAPs on a line of qubits).
    """

    name = "hea"

    @staticmethod
    def shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
        """Weight shape ``(n_layers, n_qubits)``."""
        return (n_layers, n_qubits)

    def __call__(self, weights: Any, *, wires: Sequence[int], layer: int = 0) -> None:
        self.check(weights, wires)
        wires = list(wires)
        for row in range(_shape_of(weights)[0]):
            for i, w in enumerate(wires):
                qml.RY(weights[row, i], wires=w)
            for a, b in zip(wires[:-1], wires[1:]):
                qml.CZ(wires=[a, b])


#: Encoding name → block (keys equal :data:`qser_core.config.ENCODINGS`).
ENCODINGS: dict[str, AngleEncoding] = {
    "angle-ry": AngleEncoding("Y"),
    "angle-rx": AngleEncoding("X"),
    "reupload": ReuploadEncoding(),
}
#: Ansatz name → block (keys equal :data:`qser_core.config.ANSATZE`).
ANSATZE: dict[str, _Ansatz] = {"basic": BasicAnsatz(), "strong": StrongAnsatz(), "hea": HEAAnsatz()}

assert tuple(ENCODINGS) == _config.ENCODINGS and tuple(ANSATZE) == _config.ANSATZE


def _check_int(name: str, value: Any, bounds: tuple[int, int], fix: str) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer between {low} and {high}; got {value!r}. {fix}")
    return int(value)


# ------------------------------------------------------------------ the circuit
@dataclass(frozen=True)
class CircuitSpec:
    """The quantum head's circuit: qubits, layers, encoding and ansatz, validated once.

    Parameters
    ----------
    n_qubits : int
        Qubits (= input features), within :data:`qser_core.config.QUBIT_RANGE` (2-12).
    n_layers : int
        Ansatz layers, within :data:`qser_core.config.LAYER_RANGE` (1-8).
    encoding : {"angle-ry", "angle-rx", "reupload"}, default="angle-ry"
    ansatz : {"basic", "strong", "hea"}, default="strong"

    Raises
    ------
    ConfigError
        For a value outside its vocabulary or range (the message names the config field to set).

    Examples
    --------
    >>> spec = CircuitSpec(4, 2, encoding="angle-ry", ansatz="strong")
    >>> spec.weight_shape, spec.n_params
    ((2, 4, 3), 24)
    >>> spec.stats()["two_qubit_gates"]
    8
    """

    n_qubits: int
    n_layers: int
    encoding: str = "angle-ry"
    ansatz: str = "strong"

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                f"encoding must be one of {', '.join(ENCODINGS)}; got {self.encoding!r}. "
                "Pick one with --set head.encoding=..."
            )
        if self.ansatz not in ANSATZE:
            raise ConfigError(
                f"ansatz must be one of {', '.join(ANSATZE)}; got {self.ansatz!r}. Pick one with --set head.ansatz=..."
            )
        # numpy integers (e.g. from an array of PCA widths) become plain ints: the spec is hashable
        object.__setattr__(self, "n_qubits", _check_int("n_qubits", self.n_qubits, QUBIT_RANGE,
                                                        "Set reduce.n_qubits accordingly"))
        object.__setattr__(self, "n_layers", _check_int("n_layers", self.n_layers, LAYER_RANGE,
                                                        "Set head.n_layers accordingly"))

    @classmethod
    def from_config(cls, config: QserConfig) -> "CircuitSpec":
        """The circuit a config describes (``reduce.n_qubits``, ``head.n_layers/encoding/ansatz``)."""
        return cls(config.reduce.n_qubits, config.head.n_layers, encoding=config.head.encoding,
                   ansatz=config.head.ansatz)

    # ---------------------------------------------------------------- sizes
    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the trainable circuit weights: ``(n_layers, n_qubits)`` or ``(n_layers, n_qubits, 3)`` (strong)."""
        return tuple(int(s) for s in ANSATZE[self.ansatz].shape(self.n_layers, self.n_qubits))

    @property
    def n_params(self) -> int:
        """Trainable circuit weights (the readout's ``n_qubits * 6 + 6`` are not included)."""
        return int(math.prod(self.weight_shape))

    @property
    def wires(self) -> list[int]:
        """Wire labels ``0 … n_qubits - 1``."""
        return list(range(self.n_qubits))

    # -------------------------------------------------------------- circuit
    def apply(self, inputs: Any, weights: Any) -> list:
        """Queue the gates and return one ``qml.expval(qml.PauliZ(w))`` per wire (use inside a QNode).

        Parameters
        ----------
        inputs : array-like [shape=(..., n_qubits)]
            Input angles; a leading batch dimension is broadcast.
        weights : array-like [shape=weight_shape]
            Circuit weights.
        """
        enc, ans = ENCODINGS[self.encoding], ANSATZE[self.ansatz]
        if _shape_of(weights) != self.weight_shape:
            raise DataError(f"weights must have shape {self.weight_shape} (the weight_shape of {self}); "
                            f"got {_shape_of(weights)}")
        if enc.reupload:
            for layer in range(self.n_layers):
                enc(inputs, wires=self.wires)
                ans(weights[layer : layer + 1], wires=self.wires, layer=layer)
        else:
            enc(inputs, wires=self.wires)
            ans(weights, wires=self.wires)
        return [qml.expval(qml.PauliZ(w)) for w in self.wires]

    def qnode(self, *, device: str = "default.qubit", diff_method: str = "backprop",
              interface: str = "torch", **device_options: Any) -> qml.QNode:
        """A PennyLane QNode of the circuit (``default.qubit`` + backprop is the reference).

        Parameters
        ----------
        device : str, default="default.qubit"
            PennyLane device name.
        diff_method : str, default="backprop"
        interface : str, default="torch"
        **device_options
            Passed to ``qml.device`` (e.g. ``shots``).

        Returns
        -------
        qml.QNode
            Call it as ``qnode(inputs, weights)``; inputs may carry a leading batch dimension
            (parameter broadcasting). Returns a list of ``n_qubits`` expectation values.
        """
        dev = qml.device(device, wires=self.n_qubits, **device_options)
        return qml.QNode(self.apply, dev, diff_method=diff_method, interface=interface)

    def tape(self, inputs: Any, weights: Any) -> qml.tape.QuantumScript:
        """The circuit's tape decomposed into :data:`GATE_SET` for given parameter values."""
        with qml.queuing.AnnotatedQueue() as queue:
            self.apply(inputs, weights)
        tape = qml.tape.QuantumScript.from_queue(queue)
        (tape,), _ = qml.transforms.decompose(tape, gate_set=set(GATE_SET))
        return tape

    def placeholder_angles(self, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Seeded random ``(inputs [0, π], weights [0, 2π))`` of the right shapes (drawings, exports)."""
        rng = np.random.default_rng(seed)
        return rng.uniform(0, np.pi, self.n_qubits), rng.uniform(0, 2 * np.pi, self.weight_shape)

    # ------------------------------------------------------- size, drawings
    def stats(self) -> dict[str, Any]:
        """Size of the head: trainable parameters, depth and gate counts of the decomposed circuit.

        Returns
        -------
        dict
            ``params`` (trainable parameters of the whole head: circuit weights plus the
            ``Linear(n_qubits, 6)`` readout), ``circuit_params``, ``depth``, ``two_qubit_gates``,
            ``gates`` (total) and ``gate_types`` (name → count), from ``qml.specs`` of the circuit
            decomposed into :data:`GATE_SET`.

        Examples
        --------
        >>> s = CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea").stats()
        >>> s["params"], s["circuit_params"], s["two_qubit_gates"]
        (38, 8, 6)
        """
        qnode = qml.transforms.decompose(self.qnode(interface="numpy"), gate_set=set(GATE_SET))
        res = qml.specs(qnode, level="device")(*self.placeholder_angles()).resources
        return {
            "params": self.n_params + self.n_qubits * N_CLASSES + N_CLASSES,
            "circuit_params": self.n_params,
            "depth": int(res.depth),
            "two_qubit_gates": int(res.gate_sizes.get(2, 0)),
            "gates": int(res.num_gates),
            "gate_types": dict(res.gate_types),
        }

    def _drawn(self, drawer: Callable) -> Any:
        return drawer(self.qnode(interface="numpy"))(*self.placeholder_angles())

    def draw(self, *, decimals: int | None = None) -> str:
        """Text drawing of the circuit (``qml.draw``), templates expanded to gates.

        Parameters
        ----------
        decimals : int or None, default=None
            Digits of the (random placeholder) angles to show; ``None`` hides them.
        """
        return self._drawn(lambda q: qml.draw(q, decimals=decimals, level="device"))

    def draw_figure(self):
        """Matplotlib drawing of the circuit (``qml.draw_mpl``), templates expanded to gates.

        Returns
        -------
        fig : matplotlib.figure.Figure
        ax : matplotlib.axes.Axes
        """
        return self._drawn(lambda q: qml.draw_mpl(q, level="device", style="pennylane"))

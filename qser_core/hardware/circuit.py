"""The quantum head as one parameterised Qiskit circuit, transpiled for a device: the one exporter.

``qser hardware run --model DIR --backend ibm_fez --fake`` prints what :func:`transpile_for` reports
(depth, two-qubit gates, layout) before anything is sent; the Circuit page shows
:func:`transpile_report`, built from the same two functions with the same seed search, so both
pages give the same two-qubit gate count for the same head. All Qiskit code of the project lives
in this stage (:mod:`qser_core.heads` stays PennyLane and torch).

The circuit is defined once, in PennyLane (:class:`qser_core.heads.circuits.CircuitSpec`). Here it
is queued with the *trained* weights bound and the input angles as torch tensors that require a
gradient: after decomposing the tape into RX/RY/RZ/CNOT/CZ, exactly the gates that depend on the
inputs still carry a gradient, and they become elements of a ``ParameterVector("x", n_qubits)``.
The gate mapping is pennylane-qiskit's own (``circuit_to_qiskit``), and so are the ⟨Z_q⟩
observables (``mp_to_pauli``, which handles Qiskit's reversed qubit order). Every test clip is then
one row of parameter values for the same transpiled (ISA) circuit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware.options import TRANSPILE_TRIALS
from qser_core.heads.circuits import CircuitSpec

__all__ = ["QISKIT_GATES", "TRANSPILE_TRIALS", "HeadCircuit", "IsaCircuit", "export_circuit", "transpile_for",
           "head_weights", "circuit_stats", "isa_stats", "transpile_report", "seed_search_text"]

#: Gates the PennyLane tape is decomposed into before conversion (each has a Qiskit twin).
QISKIT_GATES = frozenset({"RX", "RY", "RZ", "CNOT", "CZ"})


@dataclass(frozen=True)
class HeadCircuit:
    """The head's circuit with trained weights bound and one free parameter per input angle.

    Attributes
    ----------
    circuit : qiskit.QuantumCircuit
        No measurements; parameters ``x[0] … x[n_qubits-1]`` (in that order).
    observables : list of qiskit.quantum_info.SparsePauliOp
        ``Z`` on qubit ``q`` for ``q = 0 … n_qubits-1``.
    n_qubits : int
    """

    circuit: Any
    observables: list
    n_qubits: int


@dataclass(frozen=True)
class IsaCircuit:
    """The circuit transpiled for one backend, ready for the primitives.

    Attributes
    ----------
    circuit : qiskit.QuantumCircuit
        ISA circuit on the device's qubits (parameters kept).
    observables : list of SparsePauliOp
        The ⟨Z_q⟩ observables laid out onto the physical qubits.
    backend : str
        Backend name.
    stats : dict
        ``depth``, ``two_qubit_gates``, ``two_qubit_depth``, ``gates``, ``ops``, ``layout`` (physical qubit
        of each logical qubit), ``duration_s`` (scheduled duration from the target, NaN if unknown),
        ``optimization_level``, ``n_qubits``, ``device_qubits``, and the transpiler ``seed`` kept out of
        ``trials`` tried.
    """

    circuit: Any
    observables: list
    backend: str
    stats: dict = field(default_factory=dict)

    @property
    def layout(self) -> list[int]:
        return list(self.stats["layout"])


def head_weights(head) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trained circuit weights and the final linear readout of a fitted :class:`QuantumHead`.

    Returns
    -------
    weights : np.ndarray [shape=weight_shape]
    readout_weight : np.ndarray [shape=(6, n_qubits)]
    readout_bias : np.ndarray [shape=(6,)]

    Raises
    ------
    ConfigError
        For a head that is not a fitted quantum head.
    """
    module = getattr(head, "module_", None)
    if module is None or getattr(head, "spec_", None) is None or not hasattr(module, "readout") \
            or not hasattr(module, "weights"):
        raise ConfigError(f"hardware runs need a fitted quantum head; got {type(head).__name__}. "
                          "Train one with `qser train --head quantum --out DIR`")
    return (module.weights.detach().double().numpy().copy(),
            module.readout.weight.detach().double().numpy().copy(),
            module.readout.bias.detach().double().numpy().copy())


def export_circuit(weights: Any, *, spec: CircuitSpec) -> HeadCircuit:
    """Export the head's circuit with ``weights`` bound and the input angles as parameters.

    Parameters
    ----------
    weights : array-like [shape=spec.weight_shape]
        Trained circuit weights (:func:`head_weights`).
    spec : CircuitSpec
        The head's circuit (``head.spec_`` of a fitted quantum head).

    Returns
    -------
    HeadCircuit

    Raises
    ------
    BackendError
        For weights of the wrong shape.

    Examples
    --------
    >>> hc = export_circuit(np.full((2, 4), 0.3), spec=CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea"))
    >>> hc.circuit.num_parameters, hc.circuit.count_ops()["cz"]
    (4, 6)
    """
    import pennylane as qml
    import torch
    from pennylane_qiskit.converter import circuit_to_qiskit, mp_to_pauli
    from qiskit.circuit import ParameterVector

    n_qubits, shape = spec.n_qubits, spec.weight_shape
    weights = np.asarray(weights, dtype=float)
    if weights.shape != shape:
        raise BackendError(f"weights must have shape {shape} for this circuit; got {weights.shape}")
    # Distinct marker angles: each encoding gate's angle must equal the marker of its input.
    markers = np.arange(1, n_qubits + 1) / (n_qubits + 2)
    inputs = torch.tensor(markers, dtype=torch.float64, requires_grad=True)
    tape = spec.tape(inputs, weights)
    (tape,), _ = qml.transforms.decompose(tape, gate_set=set(QISKIT_GATES))
    x = ParameterVector("x", n_qubits)
    ops = [_with_parameter(op, x, markers) for op in tape.operations]
    script = qml.tape.QuantumScript(ops, tape.measurements)
    circuit = circuit_to_qiskit(script, n_qubits, diagonalize=False, measure=False)
    circuit.name = f"qser-{spec.ansatz}-{spec.encoding}-{n_qubits}q{spec.n_layers}l"
    return HeadCircuit(circuit=circuit, observables=[mp_to_pauli(m, n_qubits) for m in tape.measurements],
                       n_qubits=n_qubits)


def _with_parameter(op, x, markers: np.ndarray):
    """``op`` itself, or its twin with the input angle replaced by the Qiskit parameter it stands for."""
    import pennylane as qml

    if not any(qml.math.requires_grad(p) for p in op.data):
        return op
    (angle,) = op.data
    index = int(np.argmin(np.abs(markers - float(angle.detach()))))
    if not np.isclose(markers[index], float(angle.detach())):  # an input entering through arithmetic
        raise BackendError(f"cannot export gate {op.name} on wire {op.wires[0]}: its angle is not one input "
                           "angle; this encoding has no parameterised Qiskit export")
    return type(op)(x[index], wires=op.wires)


def transpile_for(
    circuit: HeadCircuit,
    backend,
    *,
    optimization_level: int = 1,
    initial_layout: Sequence[int] | None = None,
    seed: int = 0,
    trials: int = 1,
) -> IsaCircuit:
    """Transpile with ``generate_preset_pass_manager(optimization_level, target=backend.target)``.

    Layout and routing are randomised by the transpiler's seed, and on heavy-hex and heavy-square
    devices the seed alone moves the two-qubit gate count a lot: the default head (8 qubits, 2
    strong layers) at level 1 got 55-64 ECR/CZ gates over seeds 0-7 on ibm_brisbane, ibm_torino and
    ibm_fez (seed 0: 58, 64, 64; best of 8: 55 on each), 12 qubits 57-69. ``trials`` seeds are
    tried and the circuit with the fewest two-qubit gates (then two-qubit depth, then depth) kept:
    fewer noisy gates on the device, and less to simulate offline. A trial costs ~0.03 s.

    Parameters
    ----------
    circuit : HeadCircuit
    backend : qiskit.providers.BackendV2
        A fake backend, an ``AerSimulator.from_backend`` or an IBM backend.
    optimization_level : int, default=1
        Qiskit preset level, 0-3.
    initial_layout : sequence of int, optional
        Physical qubit for each logical qubit; default: the transpiler's choice.
    seed : int, default=0
        ``seed_transpiler`` of the first trial (layout and routing are randomised).
    trials : int, default=1
        Seeds ``seed … seed + trials - 1`` are tried; the circuit with the fewest two-qubit gates is kept
        (its seed is in ``stats["seed"]``).

    Returns
    -------
    IsaCircuit

    Raises
    ------
    ConfigError
        For an optimisation level outside 0-3 or a layout of the wrong length or with repeats.
    BackendError
        When the device has too few qubits or a layout names a qubit it lacks.
    """
    from qiskit.transpiler import generate_preset_pass_manager

    if optimization_level not in (0, 1, 2, 3):
        raise ConfigError(f"optimization_level must be 0, 1, 2 or 3; got {optimization_level!r}")
    n, name = circuit.n_qubits, backend_name(backend)
    if n > backend.num_qubits:
        raise BackendError(f"the circuit needs {n} qubits but {name} has {backend.num_qubits}; "
                           "use fewer qubits or a larger device")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"transpile trials must be an integer >= 1; got {trials!r}")
    layout = _check_layout(initial_layout, n, backend.num_qubits, name)
    best = None
    for trial_seed in range(seed, seed + trials):
        with warnings.catch_warnings():
            # qiskit-ibm-runtime 0.45 still registers its deprecated IBMFractionalTranslationPlugin; stevedore loads
            # every translation plugin on the first transpile, which warns although that one is never selected.
            warnings.filterwarnings("ignore", message=".*IBMFractionalTranslationPlugin is deprecated",
                                    category=DeprecationWarning)
            pm = generate_preset_pass_manager(optimization_level=optimization_level, target=backend.target,
                                              initial_layout=layout, seed_transpiler=trial_seed)
            isa = pm.run(circuit.circuit)
        stats = isa_stats(isa, backend, n_qubits=n, optimization_level=optimization_level)
        rank = (stats["two_qubit_gates"], stats["two_qubit_depth"], stats["depth"])
        if best is None or rank < best[0]:
            best = (rank, isa, {**stats, "seed": trial_seed, "trials": trials})
    _, isa, stats = best
    observables = [obs.apply_layout(isa.layout) for obs in circuit.observables]
    return IsaCircuit(circuit=isa, observables=observables, backend=name, stats=stats)


def _check_layout(layout, n_qubits: int, device_qubits: int, name: str) -> list[int] | None:
    if layout is None or len(layout) == 0:
        return None
    layout = [int(q) for q in layout]
    if len(layout) != n_qubits or len(set(layout)) != n_qubits:
        raise ConfigError(f"initial layout must name {n_qubits} distinct physical qubits (one per circuit qubit); "
                          f"got {layout}")
    if not all(0 <= q < device_qubits for q in layout):
        raise BackendError(f"initial layout {layout} names qubits outside 0-{device_qubits - 1} of {name}")
    return layout


def backend_name(backend) -> str:
    """The IBM name of a backend (``ibm_brisbane`` also for ``FakeBrisbane`` and Aer copies of it)."""
    name = getattr(backend, "name", "") or ""
    name = name() if callable(name) else name
    for prefix in ("aer_simulator_from(", "aer_simulator("):
        if name.startswith(prefix):
            name = name[len(prefix):].rstrip(")")
    if name.startswith("fake_"):
        name = "ibm_" + name.removeprefix("fake_")
    return name


def circuit_stats(circuit) -> dict[str, Any]:
    """Size of a Qiskit circuit: ``depth``, ``two_qubit_depth``, ``two_qubit_gates``, ``gates``, ``ops``,
    ``active_qubits``.

    Measurements, barriers and delays are not gates; ``depth`` is Qiskit's.
    """
    skip = {"measure", "barrier", "delay"}
    ops = {name: int(k) for name, k in circuit.count_ops().items()}
    two = sum(1 for inst in circuit.data if inst.operation.num_qubits == 2 and inst.operation.name not in skip)
    active = {circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits
              if inst.operation.name not in ("barrier", "delay")}
    return {
        "depth": int(circuit.depth()),
        "two_qubit_depth": int(circuit.depth(lambda inst: inst.operation.num_qubits == 2)),
        "two_qubit_gates": int(two),
        "gates": int(sum(k for name, k in ops.items() if name not in skip)),
        "ops": ops,
        "active_qubits": len(active),
    }


def isa_stats(isa, backend, *, n_qubits: int, optimization_level: int) -> dict[str, Any]:
    """:func:`circuit_stats` of a transpiled circuit, with its layout and scheduled duration."""
    try:
        duration = float(isa.estimate_duration(backend.target, unit="s"))
    except Exception:  # noqa: BLE001 - targets without durations (plain simulators) have none
        duration = float("nan")
    return {
        **circuit_stats(isa),
        "layout": [int(q) for q in isa.layout.final_index_layout()[:n_qubits]],
        "duration_s": duration,
        "optimization_level": int(optimization_level),
        "n_qubits": int(n_qubits),
        "device_qubits": int(backend.num_qubits),
    }


def seed_search_text(stats: dict[str, Any]) -> str:
    """How the two-qubit gate count was reached, e.g. ``fewest of 8 transpiler seeds (kept: seed 3)``."""
    trials, seed = int(stats.get("trials", 1)), int(stats.get("seed", 0))
    if trials > 1:
        return f"fewest of {trials} transpiler seeds (kept: seed {seed})"
    return f"one transpile, seed {seed}"


def transpile_report(spec: CircuitSpec, *, backend: str = "auto", optimization_level: int = 1,
                     trials: int = TRANSPILE_TRIALS, seed: int = 0, weights: Any = None) -> dict[str, Any]:
    """What the head's circuit becomes on an IBM device (offline fake backend): sizes before and after.

    The same export and seed search as a hardware run (:func:`export_circuit`, :func:`transpile_for`),
    so the Circuit page and the Hardware page report the same counts for the same head.

    Parameters
    ----------
    spec : CircuitSpec
    backend : str, default="auto"
        A fake backend name (:data:`qser_core.hardware.backends.FAKE_BACKENDS`; ``auto`` = ibm_fez).
    optimization_level : int, default=1
    trials : int, default=TRANSPILE_TRIALS
        Transpiler seeds tried; the circuit with the fewest two-qubit gates is kept.
    seed : int, default=0
        First transpiler seed, and seed of the placeholder weights.
    weights : array-like [shape=spec.weight_shape], optional
        Trained weights; seeded placeholders when omitted (at level 1 the counts do not depend on them).

    Returns
    -------
    dict
        ``logical`` (:func:`circuit_stats` of the exported circuit), ``transpiled`` (:func:`isa_stats`
        plus ``trials`` and ``seed``), ``backend``, ``seed_search`` (text), ``qasm`` (OpenQASM 3 of the
        logical circuit, inputs as ``input float``) and ``text`` (drawing, idle wires hidden).

    Raises
    ------
    BackendError
        For a device without a fake backend or too few device qubits.
    ConfigError
        For a bad optimisation level.

    Examples
    --------
    >>> report = transpile_report(CircuitSpec(4, 2, encoding="angle-ry", ansatz="hea"), backend="ibm_torino")
    >>> report["logical"]["two_qubit_gates"], report["transpiled"]["two_qubit_gates"]
    (6, 6)
    """
    import qiskit.qasm3

    from qser_core.hardware.backends import fake_backend

    weights = spec.placeholder_angles(seed=seed)[1] if weights is None else weights
    exported = export_circuit(weights, spec=spec)
    device = fake_backend(backend)
    isa = transpile_for(exported, device, optimization_level=optimization_level, seed=seed, trials=trials)
    return {
        "logical": circuit_stats(exported.circuit),
        "transpiled": isa.stats,
        "backend": isa.backend,
        "seed_search": seed_search_text(isa.stats),
        "qasm": qiskit.qasm3.dumps(exported.circuit),
        "text": str(isa.circuit.draw(output="text", idle_wires=False, fold=120)),
    }

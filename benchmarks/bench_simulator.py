"""Row 2, PQC training: ``python -m benchmarks --only simulator``.

Seconds per training epoch (7,442 samples, minibatch 64, Adam + cross-entropy through
:class:`qser_core.heads.quantum.QuantumModule`: circuit + ``Linear(n_qubits, 6)`` readout, what
:func:`qser_core.heads.training.fit_module` does per batch) of the project's ``torch`` executor
(batched statevector simulator) against what a user would pick instead: PennyLane
``default.qubit`` (backprop, parameter broadcasting) and ``lightning.qubit`` (adjoint), both
through the project's executor registry, and qiskit-machine-learning ``EstimatorQNN`` +
``TorchConnector`` (the optional ``bench`` extra). Circuits: 8 qubits × 4 and 12 qubits × 2
strong layers, angle-RY encoding. Targets: >= 5x ``default.qubit``, >= 10x the others.

The slow references are timed on a part of the epoch and extrapolated (each row says how many
batches and samples were timed); they run sample by sample, so their cost is linear in samples.
"""

from __future__ import annotations

import math
import time
from typing import Any

from benchmarks.common import log, median, row, skipped

N_SAMPLES, BATCH = 7442, 64
N_BATCHES = math.ceil(N_SAMPLES / BATCH)
CIRCUITS = [(8, 4), (12, 2)]
ENCODING, ANSATZ = "angle-ry", "strong"
#: reference name → (label, target speed-up)
REFERENCES = {
    "default.qubit": ("PennyLane default.qubit (backprop, broadcasting)", 5),
    "lightning.qubit": ("PennyLane lightning.qubit (adjoint)", 10),
    "qiskit-ml": ("qiskit-machine-learning EstimatorQNN + TorchConnector (StatevectorEstimator, parameter shift)", 10),
}


def run(quick: bool) -> list[dict]:
    """One row per circuit and reference: torch simulator seconds per epoch, the reference's, the speed-up."""
    rows = []
    for n_qubits, n_layers in CIRCUITS:
        circuit = f"{n_qubits} qubits × {n_layers} layers"
        ours = _epoch_seconds("torch", n_qubits, n_layers, plan=_plan("torch", n_qubits, quick))
        log(f"simulator {circuit}: torch {ours['seconds_per_epoch']:.3f} s/epoch")
        for name, (label, target) in REFERENCES.items():
            title = f"PQC training epoch, {circuit}, vs {name}"
            try:
                ref = _epoch_seconds(name, n_qubits, n_layers, plan=_plan(name, n_qubits, quick))
            except _Unavailable as exc:
                rows.append(skipped(title, str(exc), unit="s/epoch"))
                continue
            log(f"simulator {circuit}: {name} {ref['seconds_per_epoch']:.2f} s/epoch")
            rows.append(row(
                title, value=ours["seconds_per_epoch"], unit="s/epoch", reference=label,
                reference_value=ref["seconds_per_epoch"], ratio=ref["seconds_per_epoch"] / ours["seconds_per_epoch"],
                target=(">=", target, "ratio"), measured=ours, reference_measured=ref,
                epoch=f"{N_SAMPLES} samples, minibatch {BATCH}, Adam, cross-entropy, {ENCODING} + {ANSATZ}",
            ))
        rows += _gpu_rows(circuit, n_qubits, n_layers, ours, quick)
    return rows


def _gpu_rows(circuit: str, n_qubits: int, n_layers: int, cpu: dict[str, Any], quick: bool) -> list[dict]:
    """The GPU column: the ``torch`` executor on CUDA against itself on the CPU; nothing where no GPU is."""
    import torch

    if not torch.cuda.is_available():
        return []
    title = f"PQC training epoch, {circuit}, torch executor on CUDA ({torch.cuda.get_device_name(0)})"
    try:
        gpu = _epoch_seconds("torch", n_qubits, n_layers, plan=_plan("torch", n_qubits, quick), device="cuda")
    except Exception as exc:  # noqa: BLE001 - a GPU column that fails must not lose the CPU rows
        return [{**skipped(title, f"{type(exc).__name__}: {exc}", unit="s/epoch"), "verdict": "error"}]
    return [row(title, value=gpu["seconds_per_epoch"], unit="s/epoch", reference="torch executor on the CPU, same run",
                reference_value=cpu["seconds_per_epoch"], ratio=cpu["seconds_per_epoch"] / gpu["seconds_per_epoch"],
                measured=gpu)]


def _plan(name: str, n_qubits: int, quick: bool) -> dict[str, int]:
    """How much of the epoch to time: ``batches`` of ``samples`` each, ``repeats`` times (median kept)."""
    if name == "torch":
        return {"batches": 20 if quick else N_BATCHES, "samples": BATCH, "repeats": 3 if quick else 5}
    if name == "default.qubit":  # broadcasting: cost is not linear in samples, so whole minibatches
        return {"batches": 1 if quick else 5, "samples": BATCH, "repeats": 1 if quick else 3}
    if name == "lightning.qubit":  # one adjoint tape per sample: linear in samples
        return {"batches": 1, "samples": 8 if quick else 32, "repeats": 1 if quick else 2}
    if quick:  # one sample's parameter-shift gradient alone takes seconds (2 × n_weights estimator circuits)
        raise _Unavailable("measured in the full run only: a single sample's gradient takes several seconds")
    return {"batches": 1, "samples": 2, "repeats": 1}


class _Unavailable(Exception):
    """A reference that cannot run here (package missing); the row is skipped, saying why."""


def _epoch_seconds(name: str, n_qubits: int, n_layers: int, *, plan: dict[str, int],
                   device: str = "cpu") -> dict[str, Any]:
    """Median over repeats of the timed part, scaled to one epoch of 7,442 samples."""
    import torch

    torch.manual_seed(0)
    model = _model(name, n_qubits, n_layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    X = (torch.rand(BATCH * plan["batches"], n_qubits) * math.pi).to(device)
    y = torch.randint(0, 6, (len(X),)).to(device)

    def step(xb, yb):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()  # time the work, not its queueing

    if name != "qiskit-ml":  # warm-up: compilation, caches, allocator (Qiskit compiles nothing; a sample costs seconds)
        step(X[:1], y[:1])
    per_epoch = []
    for _ in range(plan["repeats"]):
        start = time.perf_counter()
        for b in range(plan["batches"]):
            lo = b * BATCH
            step(X[lo:lo + plan["samples"]], y[lo:lo + plan["samples"]])
        took = time.perf_counter() - start
        per_epoch.append(took * N_SAMPLES / (plan["batches"] * plan["samples"]))
    timed = plan["batches"] * plan["samples"]
    return {"seconds_per_epoch": median(per_epoch), "samples_timed": timed, "batches_timed": plan["batches"],
            "batch_size_timed": plan["samples"], "repeats": plan["repeats"], "extrapolated": timed < N_SAMPLES,
            "epochs": [round(s, 4) for s in per_epoch]}


def _model(name: str, n_qubits: int, n_layers: int):
    """The quantum head's module (circuit + ``Linear(n_qubits, 6)``) on executor ``name``, or its Qiskit twin."""
    from qser_core.heads.circuits import CircuitSpec
    from qser_core.heads.quantum import QuantumModule

    spec = CircuitSpec(n_qubits, n_layers, encoding=ENCODING, ansatz=ANSATZ)
    if name == "qiskit-ml":
        return _QiskitModule(spec)
    return QuantumModule(spec, executor=name)


def _QiskitModule(spec):
    """``TorchConnector(EstimatorQNN)`` (it owns the circuit weights) followed by the same readout."""
    import torch
    from torch import nn

    class QiskitModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.connector = _qiskit_connector(spec)
            self.readout = nn.Linear(spec.n_qubits, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.readout(self.connector(x).to(self.readout.weight.dtype))

    return QiskitModule()


def _qiskit_connector(spec):
    """The same circuit as a Qiskit ``QuantumCircuit`` in an ``EstimatorQNN``, wrapped by ``TorchConnector``."""
    try:
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.neural_networks import EstimatorQNN
    except ImportError as exc:
        raise _Unavailable(f"qiskit-machine-learning is not installed ({exc}); pip install -e .[bench]") from exc
    from qiskit.quantum_info import SparsePauliOp

    qc, inputs, weights = qiskit_circuit(spec)
    observables = [SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], num_qubits=spec.n_qubits)
                   for q in spec.wires]
    qnn = EstimatorQNN(circuit=qc, observables=observables, input_params=inputs, weight_params=weights)
    return TorchConnector(qnn)


def qiskit_circuit(spec):
    """Translate a :class:`~qser_core.heads.circuits.CircuitSpec`'s decomposed tape gate by gate into Qiskit.

    Every input angle and weight is given a distinct marker value; each gate angle of the
    decomposed tape is then one marker, which names the Qiskit ``Parameter`` to put there.

    Returns
    -------
    circuit : qiskit.QuantumCircuit
    inputs, weights : list of qiskit.circuit.Parameter
        In the order of the spec's ``inputs`` and flattened ``weights``.
    """
    import numpy as np
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    x, w = ParameterVector("x", spec.n_qubits), ParameterVector("w", spec.n_params)
    marks = {1000.0 + i: x[i] for i in range(spec.n_qubits)} | {2000.0 + k: w[k] for k in range(spec.n_params)}
    tape = spec.tape(np.arange(spec.n_qubits) + 1000.0, (np.arange(spec.n_params) + 2000.0).reshape(spec.weight_shape))
    qc = QuantumCircuit(spec.n_qubits)
    for op in tape.operations:
        p, wires = [marks[float(v)] for v in op.parameters], list(op.wires)
        if op.name == "Rot":  # Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)
            qc.rz(p[0], wires[0]); qc.ry(p[1], wires[0]); qc.rz(p[2], wires[0])  # noqa: E702
        else:
            {"RX": qc.rx, "RY": qc.ry, "RZ": qc.rz, "CNOT": qc.cx, "CZ": qc.cz}[op.name](*p, *wires)
    return qc, list(x), list(w)

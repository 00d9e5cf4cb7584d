"""Noise-aware PQC training: ``python -m benchmarks --only noise_aware``.

Seconds per training epoch (7,442 samples, a CREMA-D fold; minibatch 64, Adam + cross-entropy through
:class:`qser_core.heads.quantum.QuantumModule`) of the ``torch.noisy`` executor — Pauli errors sampled
per step from ibm_torino's calibration, readout error, ⟨Z⟩ normalisation — against the ideal ``torch``
executor, timed alternately in the same run (the machine is shared, so alternating keeps both under the
same load). Circuit: 8 qubits × 2 strong layers (the EmoDB head of README "Noise-aware training").
Target: at most 5× slower (ratio ≥ 0.2).
"""

from __future__ import annotations

import math
import time

from benchmarks.common import log, median, row

N_SAMPLES, BATCH = 7442, 64
N_QUBITS, N_LAYERS, BACKEND = 8, 2, "ibm_torino"


def run(quick: bool) -> list[dict]:
    """One row: noisy epoch seconds, the ideal executor's, their ratio (ideal / noisy)."""
    import torch

    from qser_core.heads.circuits import CircuitSpec
    from qser_core.heads.quantum import QuantumModule

    spec = CircuitSpec(N_QUBITS, N_LAYERS, encoding="angle-ry", ansatz="strong")
    batches, repeats = (20, 3) if quick else (40, 5)
    torch.manual_seed(0)
    models = {"torch": QuantumModule(spec), "torch.noisy": QuantumModule(spec, executor="torch.noisy", normalise=True,
                                                                           backend=BACKEND, noise_scale=1.0)}
    X, y = torch.rand(BATCH * batches, N_QUBITS) * math.pi, torch.randint(0, 6, (BATCH * batches,))
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats + 1):  # the first round warms up both
        for name, model in models.items():
            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
            start = time.perf_counter()
            for b in range(batches):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(X[b * BATCH:(b + 1) * BATCH]), y[b * BATCH:(b + 1) * BATCH]).backward()
                opt.step()
            times[name].append((time.perf_counter() - start) * N_SAMPLES / (batches * BATCH))
    ideal, noisy = median(times["torch"][1:]), median(times["torch.noisy"][1:])
    log(f"noise-aware epoch {noisy:.3f} s, ideal {ideal:.3f} s ({noisy / ideal:.2f}x)")
    return [row(f"noise-aware PQC training epoch, {N_QUBITS} qubits × {N_LAYERS} layers ({BACKEND} errors)",
                value=noisy, unit="s/epoch", reference="ideal torch executor, same run, timed alternately",
                reference_value=ideal, ratio=ideal / noisy, target=(">=", 0.2, "ratio"),
                slowdown=noisy / ideal, samples_timed=batches * BATCH, repeats=repeats,
                epochs={name: [round(s, 4) for s in t[1:]] for name, t in times.items()},
                epoch=f"{N_SAMPLES} samples, minibatch {BATCH}, Adam, cross-entropy, angle-ry + strong")]

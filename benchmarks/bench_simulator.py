"""Seconds per training epoch on each executor: default.qubit, lightning.qubit (adjoint), torch.

``python benchmarks/bench_simulator.py`` (``--batches 10`` PennyLane minibatches are timed and
extrapolated to the full epoch; ``--full`` times them on whole epochs; each cell is the fastest of
``--repeats 3`` interleaved timings, since the machine may be shared).

One epoch = 7,442 samples (CREMA-D) in minibatches of 64, Adam + cross-entropy through
:class:`qser_core.heads.quantum.QuantumModule` (circuit + linear readout), exactly the
work :func:`qser_core.heads.training.fit_module` does per batch.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.quantum import QuantumModule

N_SAMPLES, BATCH = 7442, 64
CASES = [CircuitSpec(n_qubits, 4, encoding="angle-ry", ansatz="strong") for n_qubits in (8, 12)]
EXECUTORS = ("default.qubit", "lightning.qubit", "torch")  # the last one is the baseline of the speedups


def seconds_per_epoch(spec: CircuitSpec, *, executor: str, max_batches: int | None = None) -> tuple[float, bool]:
    """Time training steps; returns (seconds per full epoch, extrapolated?)."""
    torch.manual_seed(0)
    module = QuantumModule(spec, executor=executor)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    X = torch.rand(N_SAMPLES, spec.n_qubits) * math.pi
    y = torch.randint(0, 6, (N_SAMPLES,))
    n_batches = math.ceil(N_SAMPLES / BATCH)
    todo = n_batches if max_batches is None else min(max_batches, n_batches)
    # one warm-up step (compilation, allocator)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(module(X[:BATCH]), y[:BATCH]).backward()
    start = time.perf_counter()
    for b in range(todo):
        xb, yb = X[b * BATCH : (b + 1) * BATCH], y[b * BATCH : (b + 1) * BATCH]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(xb), yb).backward()
        opt.step()
    took = time.perf_counter() - start
    return took * n_batches / todo, todo < n_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10, help="default.qubit minibatches to time (then extrapolate)")
    parser.add_argument("--full", action="store_true", help="time default.qubit on a whole epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timings per cell; the fastest is shown (shared machines)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; epoch = {N_SAMPLES} samples, minibatch {BATCH}")
    header = f"{'circuit':<28}" + "".join(f"{name + ' s/epoch':>26}" for name in EXECUTORS) + f"{'speedup':>10}"
    print(header)
    print("-" * len(header))
    for spec in CASES:
        best: dict[str, float] = {}
        extrapolated = False
        for _ in range(max(1, args.repeats)):  # interleaved, so all see the same machine load
            for name in EXECUTORS:
                limit = None if args.full or name == "torch" else args.batches
                seconds, extrapolated_here = seconds_per_epoch(spec, executor=name, max_batches=limit)
                best[name] = min(best.get(name, math.inf), seconds)
                extrapolated |= extrapolated_here
        label = f"{spec.n_qubits}q {spec.n_layers}L {spec.ansatz} {spec.encoding}"
        cells = "".join(f"{best[name]:>26.3f}" for name in EXECUTORS)
        speedup = min(best[name] for name in EXECUTORS[:-1]) / best[EXECUTORS[-1]]
        note = f"  (PennyLane cells extrapolated from {args.batches} batches)" if extrapolated else ""
        print(f"{label:<28}{cells}{speedup:>9.1f}x{note}")


if __name__ == "__main__":
    main()

"""Seconds per training epoch: PennyLane default.qubit vs the batched torch simulator.

``python benchmarks/bench_simulator.py`` (``--batches 10`` default.qubit minibatches are timed
and extrapolated to the full epoch; ``--full`` times default.qubit on whole epochs; each cell
is the fastest of ``--repeats 3`` interleaved timings, since the machine may be shared).

One epoch = 7,442 samples (CREMA-D) in minibatches of 64, Adam + cross-entropy through
:class:`qser_core.heads.quantum.QuantumModule` (circuit + linear readout), exactly the
work :func:`qser_core.heads.training.fit_module` does per batch.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from qser_core.heads.quantum import QuantumModule

N_SAMPLES, BATCH = 7442, 64
CASES = [(8, 4, "angle-ry", "strong"), (12, 4, "angle-ry", "strong")]


def seconds_per_epoch(*, n_qubits: int, n_layers: int, encoding: str, ansatz: str, simulator: str,
                      max_batches: int | None = None) -> tuple[float, bool]:
    """Time training steps; returns (seconds per full epoch, extrapolated?)."""
    torch.manual_seed(0)
    module = QuantumModule(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz, simulator=simulator)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    X = torch.rand(N_SAMPLES, n_qubits) * math.pi
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
    header = f"{'circuit':<28}{'default.qubit s/epoch':>24}{'torch sim s/epoch':>20}{'speedup':>10}"
    print(header)
    print("-" * len(header))
    for n_qubits, n_layers, encoding, ansatz in CASES:
        kw = dict(n_qubits=n_qubits, n_layers=n_layers, encoding=encoding, ansatz=ansatz)
        refs, ours_all = [], []
        for _ in range(max(1, args.repeats)):  # interleaved, so both see the same machine load
            ref, extrapolated = seconds_per_epoch(**kw, simulator="default.qubit",
                                                  max_batches=None if args.full else args.batches)
            refs.append(ref)
            ours_all.append(seconds_per_epoch(**kw, simulator="torch")[0])
        ref, ours = min(refs), min(ours_all)
        label = f"{n_qubits}q {n_layers}L {ansatz} {encoding}"
        ref_text = f"{ref:.2f}" + (f" (extrap. {args.batches} b)" if extrapolated else "")
        print(f"{label:<28}{ref_text:>24}{ours:>20.3f}{ref / ours:>9.1f}x")


if __name__ == "__main__":
    main()

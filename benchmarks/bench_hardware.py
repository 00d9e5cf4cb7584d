"""Noisy evaluation of 1,000 clips × 1,024 shots, 8 qubits, on a fake 127-qubit backend, in ONE job.

``nice -n 10 python benchmarks/bench_hardware.py`` prints the seconds and the number of primitive jobs
(target: under 30 s on 2 cores). The head is a random 8-qubit, 2-layer ``strong`` circuit: the cost
depends on the circuit and the device, not on trained values.
"""

from __future__ import annotations

import time

import numpy as np


def main(n_clips: int = 1000, shots: int = 1024, n_qubits: int = 8, n_layers: int = 2) -> dict:
    from qiskit_ibm_runtime import EstimatorV2

    from qser_core.hardware.backends import fake_backend
    from qser_core.hardware.circuit import export_circuit, transpile_for
    from qser_core.hardware.execute import expectations, local_target, submit, wait
    from qser_core.heads import circuits

    calls, real = [], EstimatorV2.run
    EstimatorV2.run = lambda self, pubs, **kw: calls.append(len(pubs)) or real(self, pubs, **kw)  # count only
    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 2 * np.pi, circuits.weight_shape(n_qubits=n_qubits, n_layers=n_layers, ansatz="strong"))
    angles = rng.uniform(0, np.pi, (n_clips, n_qubits))
    start = time.perf_counter()
    device = fake_backend("ibm_brisbane")
    isa = transpile_for(export_circuit(weights, n_qubits=n_qubits, n_layers=n_layers, encoding="angle-ry",
                                       ansatz="strong"), device)
    prepared = time.perf_counter()
    execution = submit(isa, angles, target=local_target(isa, device, noise_scale=1.0, seed=0), shots=shots, seed=0)
    values = expectations(wait(execution), primitive="estimator", layout=execution.layout)
    done = time.perf_counter()
    out = {"clips": n_clips, "shots": shots, "qubits": n_qubits, "device_qubits": device.num_qubits,
           "jobs": len(calls), "seconds_total": done - start, "seconds_job": done - prepared,
           "two_qubit_gates": isa.stats["two_qubit_gates"], "depth": isa.stats["depth"], "shape": values.shape}
    print(out)
    return out


if __name__ == "__main__":
    main()

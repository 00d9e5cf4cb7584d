"""Noisy simulation from a real device's calibration, with the noise scaled by λ.

``qser hardware curve --model DIR --backend ibm_fez --noise-scales 0 0.25 0.5 1 2`` draws the
accuracy-versus-noise curve these simulators give.

Why a *slice* of the device: ``AerSimulator.from_backend(FakeBrisbane())`` builds noise for all 127
qubits and every primitive call deep-copies it; measured on this machine (2 shared cores) it took
7 s of CPU to build and 14 s of CPU to evaluate 20 clips, nearly all of it copying and mapping
noise on idle qubits. The transpiled circuit touches only its active qubits (the layout plus any
routing qubits), so :func:`device_slice` keeps exactly those qubits of the device's ``Target`` —
their gate errors, gate durations, readout errors, T1/T2 — renumbered 0…k-1, and
``AerSimulator.from_backend`` builds the same noise model for them. The circuit is renumbered the
same way (:func:`compact_circuit`); the simulated physics is unchanged.

Scaling by λ multiplies every gate and readout error by λ and divides T1 and T2 by λ (relaxation
rates times λ): λ = 0 is noiseless (shot noise only), λ = 1 the device as calibrated, λ = 2 twice
as noisy. Errors are capped at their physical bounds.
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any, Sequence

from qser_core.errors import ConfigError

# DeviceSlice is reached as ``noise.DeviceSlice`` (module ``__getattr__``, built on first use), so it is
# not listed here: ``from noise import *`` would need it at import time.
__all__ = ["NOISE_SCALES", "SHOT_COUNTS", "active_qubits", "device_slice", "compact_circuit", "noisy_simulator",
           "parallel_options"]

#: Default λ values of the accuracy-versus-noise curve.
NOISE_SCALES = (0.0, 0.25, 0.5, 1.0, 2.0)
#: Default shot counts of the accuracy-versus-shots curve.
SHOT_COUNTS = (64, 256, 1024, 4096, 8192)
_MAX_ERROR = 0.5  # a readout or gate error above one half is no longer an error of that gate


def _backend_v2():
    from qiskit.providers import BackendV2, Options

    class DeviceSlice(BackendV2):
        """A few qubits of a device: its ``Target`` restricted and renumbered (no ``run``; Aer runs it)."""

        def __init__(self, target, *, name: str) -> None:
            super().__init__(name=name, description=f"qubits of {name}", backend_version="slice")
            self._target = target

        @property
        def target(self):
            return self._target

        @property
        def max_circuits(self):
            return None

        @classmethod
        def _default_options(cls):
            return Options()

        def run(self, run_input, **options):  # pragma: no cover - AerSimulator.from_backend runs it
            raise NotImplementedError("a device slice only describes noise; run it with AerSimulator.from_backend")

    return DeviceSlice


def __getattr__(name: str):  # DeviceSlice is built on first use: importing qiskit costs about a second
    if name == "DeviceSlice":
        return _backend_v2()
    raise AttributeError(name)


def active_qubits(circuit) -> list[int]:
    """Physical qubits a transpiled circuit acts on (gates or measurements), sorted."""
    return sorted({circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits
                   if inst.operation.name not in ("barrier", "delay")})


def device_slice(backend, qubits: Sequence[int], *, noise_scale: float = 1.0):
    """The device restricted to ``qubits`` (renumbered 0…k-1), its noise scaled by ``noise_scale``.

    Parameters
    ----------
    backend : qiskit.providers.BackendV2
        A fake backend (calibration snapshot) or a real IBM backend.
    qubits : sequence of int
        Physical qubits to keep (:func:`active_qubits` of the ISA circuit).
    noise_scale : float, default=1.0
        λ ≥ 0: gate and readout errors times λ, T1 and T2 divided by λ.

    Returns
    -------
    DeviceSlice
        A ``BackendV2`` whose target ``AerSimulator.from_backend`` turns into a noise model.

    Raises
    ------
    ConfigError
        For a negative or non-finite λ.
    """
    from qiskit.circuit import Instruction
    from qiskit.transpiler import Target

    check_noise_scale(noise_scale)
    full, index = backend.target, {int(q): i for i, q in enumerate(qubits)}
    props = full.qubit_properties or [None] * full.num_qubits
    target = Target(num_qubits=len(index), dt=full.dt,
                    qubit_properties=[_scaled_qubit(props[q], noise_scale) for q in index])
    for name in full.operation_names:
        operation = full.operation_from_name(name)
        if not isinstance(operation, Instruction) or full[name] is None:
            continue  # control flow (classes, not instances) and ideal global ops
        kept = {tuple(index[q] for q in qargs): _scaled_instruction(p, noise_scale)
                for qargs, p in full[name].items() if qargs is not None and all(q in index for q in qargs)}
        if kept:
            target.add_instruction(operation, kept, name=name)
    return _backend_v2()(target, name=getattr(backend, "name", "device"))


def check_noise_scale(noise_scale: float) -> float:
    """Return λ as a float, or raise :class:`ConfigError` unless it is finite and ≥ 0."""
    if isinstance(noise_scale, bool) or not isinstance(noise_scale, (int, float)) or not math.isfinite(noise_scale) \
            or noise_scale < 0:
        raise ConfigError(f"noise scale λ must be a finite number ≥ 0 (0 = noiseless, 1 = device as calibrated); "
                          f"got {noise_scale!r}")
    return float(noise_scale)


def _scaled_qubit(prop, scale: float):
    if prop is None or scale == 1.0:
        return prop
    prop = copy.copy(prop)
    for attr in ("t1", "t2"):
        value = getattr(prop, attr, None)
        if value is not None:
            setattr(prop, attr, None if scale == 0 else value / scale)  # None = no relaxation
    return prop


def _scaled_instruction(prop, scale: float):
    if prop is None or scale == 1.0:
        return prop
    prop = copy.copy(prop)
    if prop.error is not None:  # a measure's error is its readout error: Aer builds readout noise from it
        prop.error = min(prop.error * scale, _MAX_ERROR)
    return prop


def compact_circuit(circuit, qubits: Sequence[int]):
    """The circuit on ``len(qubits)`` wires: physical qubit ``qubits[i]`` becomes wire ``i`` (registers kept)."""
    from qiskit import QuantumCircuit, QuantumRegister

    index = {int(q): i for i, q in enumerate(qubits)}
    out = QuantumCircuit(QuantumRegister(len(index), "q"), *circuit.cregs, name=circuit.name,
                         global_phase=circuit.global_phase)
    for inst in circuit.data:
        wires = [circuit.find_bit(q).index for q in inst.qubits]
        if inst.operation.name in ("barrier", "delay") and not all(w in index for w in wires):
            continue
        out.append(inst.operation, [index[w] for w in wires], [circuit.find_bit(c).index for c in inst.clbits])
    return out


def compact_observable(observable, qubits: Sequence[int]):
    """A laid-out ``SparsePauliOp`` restricted to ``qubits`` (identity elsewhere), renumbered like the circuit."""
    from qiskit.quantum_info import SparsePauliOp

    labels = []
    for pauli, coeff in observable.label_iter():
        # labels are little-endian: character -1-q belongs to qubit q
        labels.append(("".join(pauli[-1 - q] for q in qubits)[::-1], coeff))
        if any(c != "I" for i, c in enumerate(reversed(pauli)) if i not in set(qubits)):
            raise ConfigError("observable acts on a qubit the circuit does not use; transpile again")
    return SparsePauliOp.from_list(labels)


def noisy_simulator(backend, qubits: Sequence[int], *, noise_scale: float = 1.0, seed: int | None = None) -> Any:
    """``AerSimulator.from_backend`` of :func:`device_slice` (no noise model at λ = 0).

    Parameters
    ----------
    backend : qiskit.providers.BackendV2
    qubits : sequence of int
        Physical qubits of the circuit.
    noise_scale : float, default=1.0
        λ (see :func:`device_slice`).
    seed : int, optional
        ``seed_simulator`` of Aer (shot sampling and noise trajectories).

    Returns
    -------
    qiskit_aer.AerSimulator
    """
    from qiskit_aer import AerSimulator

    sliced = device_slice(backend, qubits, noise_scale=noise_scale)
    options: dict[str, Any] = parallel_options(1)  # :func:`qser_core.hardware.execute.submit` widens it per job
    if seed is not None:
        options["seed_simulator"] = seed
    if noise_scale == 0:
        options["noise_model"] = None
    else:  # exact noisy state, then shots sampled from it (trajectories cost 15-25x more here, see below)
        options["method"] = "density_matrix"
    return AerSimulator.from_backend(sliced, **options)


def parallel_options(n_circuits: int) -> dict[str, Any]:
    """Aer threading for a job of ``n_circuits`` circuits: one thread per circuit, circuits side by side.

    Where the time of a noisy evaluation goes (1,000 clips × 1,024 shots, 8 qubits, 2 strong layers on
    the FakeBrisbane slice; CPU time on this 2-core machine under load, so ±30 %):

    - Aer's density-matrix simulation in C++: 55-60 ms per clip, ~85 % of the total (44-49 ms with one
      circuit at a time, 57 ms each with two side by side: the two cores do not give 2×). The 374 ISA
      gates (58 ECR; 55 with the 8 transpiler trials a hardware run now makes) plus their noise fuse into
      28 two-qubit superoperators (16×16 on the 256×256 density
      matrix, ~2 ms each) plus ~6 ms of fusion per circuit. That is Aer's floor for this circuit: larger
      fusion (``fusion_max_qubit`` 3 / 4) cost 110 / 170 ms, no fusion 330 ms, single precision no
      gain, transpiler level 2-3 still 27 superoperators; noise trajectories (``statevector``) 890 ms,
      with shot branching 1,300 ms; the 127-qubit model is never built (:func:`device_slice`).
    - Python in the primitive and Aer (binding each row, measurement circuits, assembling each circuit,
      counts → ⟨Z⟩): ~10 ms per clip. Aer's own ``parameter_binds`` would save ~11 % of the total but is
      not what ``BackendEstimatorV2`` (qiskit-ibm-runtime's local testing mode) sends, so it is not used.

    So the remaining lever is the second core: Aer runs whole circuits in parallel (one OpenMP thread
    each, no barrier per gate), which halves the C++ part on 2 idle cores and leaves the CPU time
    unchanged. Parallelism *inside* one circuit is avoided: with OpenMP barriers after every gate, a
    busy 2-core machine spun the waiting thread and cost 5× the CPU (20 noisy 8-qubit circuits: 9.6 s
    against 1.5 s single-threaded). A job of one circuit therefore runs on one thread; Aer caps the
    threads at ``OMP_NUM_THREADS``.

    Measured against the single-threaded version (200 clips, same seed, identical ⟨Z⟩): while
    another user's job held the machine, Linux's autogroup fair share gave this process one core
    whatever its thread count, so the wall time did not drop, and two threads time-sharing that core
    cost 3-20 % more CPU (13.2-14.5 s against 14.3-17.7 s). On a machine that busy, set
    ``OMP_NUM_THREADS=1``; with two free cores the C++ part runs about twice as fast.
    """
    threads = max(1, min(int(n_circuits), os.cpu_count() or 1))
    return {"max_parallel_threads": threads, "max_parallel_experiments": threads, "max_parallel_shots": 1}

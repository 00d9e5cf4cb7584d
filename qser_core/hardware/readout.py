"""Readout-error mitigation of the Sampler path with mthree (M3, matrix-free measurement mitigation).

``qser hardware run --model DIR --backend ibm_fez --fake --sampler --readout mthree`` corrects
the bit strings of the one job this way and records the calibration with the job.

M3 needs each measured qubit's 2×2 assignment matrix (probability of reading b when a was prepared).
It is measured *in the same job* as the evaluation: M3's balanced calibration strings (its
``HadamardGenerator``: every qubit prepared 0 in half the circuits and 1 in the other half) become
extra PUBs of X gates and measurements on the circuit's qubits, after the evaluation PUB. So

- the calibration sees the readout errors of the very job it corrects (offline: the noisy simulator
  of the device slice, scaled by λ; on IBM Quantum: the device at the time the job ran);
- every circuit runs at the job's one shot count (strings repeated to reach M3's 20,000 shots);
- it costs no extra job, and ``--no-wait`` returns at once: the matrices are computed from the job's
  result whenever it is read, here or by ``qser hardware fetch`` days later in another process.

M3's own ``cals_from_system`` is not used: it sends a calibration job of its own (through its
``runningman`` wrapper of the IBM backend) that has to finish before the evaluation job may be sent,
so a ``--no-wait`` dispatch waited in the queue twice, and the calibration was taken at another time
than the job it corrects. M3 still does the correction (``cals_from_matrices``,
``apply_correction``): for each clip it solves for the quasi-probabilities whose noisy readout gives the
observed counts, and ⟨Z_q⟩ is read from those (quasi-probabilities may be slightly negative: the
estimate is unbiased, not clipped). The matrices are stored with the job's result in logical-qubit order.

Readout correction only undoes measurement errors; gate noise and relaxation still shrink ⟨Z⟩.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware.options import READOUT_METHODS

__all__ = ["READOUT_METHODS", "CALIBRATION_SHOTS", "calibration_plan", "calibration_circuits", "calibration_pubs", "assignment_matrices",
           "complete_calibration", "mitigated_expectations"]

#: Shots of the whole calibration, as M3's balanced default (2 × 10,000 over all its circuits).
CALIBRATION_SHOTS = 20_000


def _mthree():
    try:
        import mthree
    except ImportError:
        raise ConfigError("readout mitigation 'mthree' needs the mthree package (a dependency of qser: "
                          "pip install -r requirements.txt); or use readout 'none'") from None
    return mthree


def calibration_plan(n_qubits: int, *, shots: int, total_shots: int = CALIBRATION_SHOTS) -> dict[str, Any]:
    """M3's balanced calibration for ``n_qubits`` measured qubits, at the job's one shot count.

    Every PUB of a job runs with the same shots (the client-side primitives of qiskit-ibm-runtime
    0.50 refuse mixed shot counts), so each calibration string is *repeated* until the calibration
    has at least ``total_shots`` shots in all.

    Parameters
    ----------
    n_qubits : int
        Measured (logical) qubits.
    shots : int
        Shots of every PUB of the job (the evaluation's).
    total_shots : int, default=CALIBRATION_SHOTS
        Shots the whole calibration should reach (M3's balanced default).

    Returns
    -------
    dict
        ``method`` (``"balanced"``), ``strings`` (one list of ``n_qubits`` bits per circuit; bit ``j``
        is what logical qubit ``j`` is prepared in), ``repeats`` (circuits per string) and ``shots``
        (per circuit, the job's).

    Examples
    --------
    >>> plan = calibration_plan(3, shots=1024)
    >>> len(plan["strings"]), plan["repeats"], plan["shots"]
    (4, 5, 1024)
    """
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 1:
        raise ConfigError(f"readout calibration needs at least one measured qubit; got {n_qubits!r}")
    _mthree()  # the message that says how to install it, before importing a submodule
    from mthree.generators import HadamardGenerator

    strings = [[int(b) for b in bits] for bits in HadamardGenerator(n_qubits)]
    repeats = max(1, int(math.ceil(total_shots / (len(strings) * int(shots)))))
    return {"method": "balanced", "strings": strings, "repeats": repeats, "shots": int(shots)}


def calibration_circuits(plan: dict[str, Any]) -> int:
    """Circuits of a calibration plan (strings × repeats)."""
    return len(plan["strings"]) * int(plan.get("repeats", 1))


def _expanded(plan: dict[str, Any]) -> list[list[int]]:
    """The prepared string of each calibration PUB, in job order."""
    return [string for string in plan["strings"] for _ in range(int(plan.get("repeats", 1)))]


def calibration_pubs(width: int, layout: Sequence[int], plan: dict[str, Any]) -> list[tuple]:
    """SamplerV2 PUBs of the calibration: per string (repeated), X on the qubits prepared in 1, then measure.

    Parameters
    ----------
    width : int
        Qubits of the circuits the job runs (the device's, or the local slice's).
    layout : sequence of int
        Wire of each logical qubit; measurement ``j`` reads wire ``layout[j]`` into bit ``j``.
    plan : dict
        From :func:`calibration_plan`.

    Returns
    -------
    list of tuple
        ``(circuit,)`` per circuit: already ISA (only ``x`` and ``measure``); no shots of their own,
        so they run at the job's ``default_shots`` like the evaluation PUB.
    """
    from qiskit import QuantumCircuit

    pubs = []
    for string in _expanded(plan):
        circuit = QuantumCircuit(width, len(layout), name="m3-calibration")
        for wire, bit in zip(layout, string):
            if bit:
                circuit.x(int(wire))
        circuit.measure([int(w) for w in layout], range(len(layout)))
        pubs.append((circuit,))
    return pubs


def assignment_matrices(bit_arrays: Sequence[Any], strings: Sequence[Sequence[int]]) -> list[list[list[float]]]:
    """Each logical qubit's 2×2 assignment matrix (columns: prepared 0 / 1) from the calibration PUBs' bits.

    Parameters
    ----------
    bit_arrays : sequence of qiskit.primitives.BitArray
        One per calibration circuit, in plan order (bit ``j`` = logical qubit ``j``).
    strings : sequence of bit lists
        What each circuit prepared (:func:`calibration_plan`).

    Raises
    ------
    BackendError
        When the result does not hold one bit array per string, or a qubit was never prepared in 0 or 1.
    """
    if len(bit_arrays) != len(strings):
        raise BackendError(f"the job returned {len(bit_arrays)} readout calibration results for {len(strings)} "
                           "calibration circuits; run the job again")
    n = len(strings[0])
    correct, total = np.zeros((n, 2)), np.zeros((n, 2))
    for bits, string in zip(bit_arrays, strings):
        read = np.unpackbits(bits.array, axis=-1, bitorder="big")[..., ::-1][..., :n]  # (shots, n): bit j last-first
        prepared = np.asarray(string, dtype=np.uint8)
        hits = (read == prepared).sum(axis=0)
        for j, a in enumerate(prepared):
            correct[j, a] += hits[j]
            total[j, a] += read.shape[0]
    if np.any(total == 0):
        raise BackendError("the readout calibration never prepared some qubit in both 0 and 1; run the job again")
    p00, p11 = correct[:, 0] / total[:, 0], correct[:, 1] / total[:, 1]
    return [[[float(a), float(1 - b)], [float(1 - a), float(b)]] for a, b in zip(p00, p11)]


def complete_calibration(calibration: dict[str, Any], result) -> dict[str, Any]:
    """Add the ``matrices`` measured by the calibration PUBs of ``result`` (PUBs 1… of the job) in place."""
    if "matrices" not in calibration:
        calibration["matrices"] = assignment_matrices([pub.data.c for pub in list(result)[1:]],
                                                      _expanded(calibration))
    return calibration


def mitigated_expectations(bits, layout: Sequence[int], calibration: dict[str, Any]) -> np.ndarray:
    """⟨Z_q⟩ per clip from a Sampler bit array, readout-corrected with M3 ``[shape=(n_clips, n_qubits)]``.

    Parameters
    ----------
    bits : qiskit.primitives.BitArray [shape=(n_clips,)]
        The ``meas`` register of the job's one PUB.
    layout : sequence of int
        Bit of each logical qubit in ``bits``.
    calibration : dict
        From :func:`complete_calibration` (one matrix per logical qubit, same order as ``layout``).

    Raises
    ------
    BackendError
        When the calibration does not have one matrix per logical qubit.
    """
    mthree = _mthree()
    n = len(layout)
    matrices = calibration.get("matrices") or []
    if len(matrices) != n:
        raise BackendError(f"readout calibration must hold one 2×2 matrix per circuit qubit ({n}); got "
                           f"{len(matrices)}. Run the job again with readout mitigation")
    mitigator = mthree.M3Mitigation()
    mitigator.cals_from_matrices([np.asarray(m, dtype=np.float32) for m in matrices])
    sliced = bits.slice_bits([int(w) for w in layout])  # bit j is logical qubit j
    counts = [sliced.get_counts(loc=i) for i in range(sliced.shape[0])]
    quasis = mitigator.apply_correction(counts, qubits=list(range(n)))
    # Z on logical qubit q; M3 operator strings are little-endian like the bit strings
    operators = ["I" * (n - 1 - q) + "Z" + "I" * q for q in range(n)]
    return np.array([quasi.expval(operators) for quasi in quasis], dtype=float).reshape(len(counts), n)

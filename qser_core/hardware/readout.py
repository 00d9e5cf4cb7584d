"""Readout-error mitigation of the Sampler path with mthree (M3, matrix-free measurement mitigation).

``qser hardware run --model DIR --backend ibm_brisbane --fake --sampler --readout mthree`` corrects
the bit strings of the one job this way and records the calibration with the job.

M3 first *measures* each used qubit's 2×2 assignment matrix (probability of reading b when a was
prepared) with calibration circuits on the target that runs the job: offline the noisy simulator of
the device slice (so the calibration sees exactly the readout errors the job sees, scaled by λ), on
IBM Quantum one SamplerV2 job in job mode, sent and waited for before the evaluation job. Then, for
each clip, it solves for the quasi-probabilities whose noisy readout gives the observed counts, and
⟨Z_q⟩ is read from those (quasi-probabilities may be slightly negative: the estimate is unbiased, not
clipped). The matrices are stored in the job record in logical-qubit order, so a job fetched days
later by another process is corrected with the calibration taken when it was sent.

Readout correction only undoes measurement errors; gate noise and relaxation still shrink ⟨Z⟩.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from qser_core.errors import BackendError, ConfigError

__all__ = ["READOUT_METHODS", "CALIBRATION_SHOTS", "calibrate", "mitigated_expectations"]

#: Sampler-path readout mitigation: none, or M3 (``mthree``).
READOUT_METHODS = ("none", "mthree")
#: Shots of M3's default calibration on a device (balanced: 2 × 10,000 over all its circuits), for the QPU estimate.
CALIBRATION_SHOTS = 20_000


def _mthree():
    try:
        import mthree
    except ImportError:
        raise ConfigError("readout mitigation 'mthree' needs the mthree package (a dependency of qser: "
                          "pip install -r requirements.txt); or use readout 'none'") from None
    return mthree


def calibrate(system, qubits: Sequence[int], *, shots: int | None = None) -> dict[str, Any]:
    """Measure the readout assignment matrices of ``qubits`` of ``system`` (M3's ``cals_from_system``).

    Parameters
    ----------
    system : qiskit.providers.BackendV2
        What runs the job: the offline noisy ``AerSimulator`` or the IBM backend.
    qubits : sequence of int
        Qubit of ``system`` measured for each logical qubit, in logical order.
    shots : int, optional
        Calibration shots (M3's default: 10,000, or the backend's maximum).

    Returns
    -------
    dict
        ``matrices`` (one 2×2 matrix per logical qubit, columns = prepared state), ``qubits``,
        ``shots``, ``method`` (M3's: ``independent`` on simulators, ``balanced`` on devices), ``jobs``
        and ``job_ids`` of the calibration.

    Raises
    ------
    BackendError
        When the calibration circuits fail or the backend refuses them.
    """
    mthree = _mthree()
    qubits = [int(q) for q in qubits]
    try:
        mitigator = mthree.M3Mitigation(system)
        jobs = mitigator.cals_from_system(qubits=qubits, shots=shots, async_cal=False)
        matrices = mitigator.cals_to_matrices()
    except Exception as exc:  # noqa: BLE001 - the backend's refusal, shown with its reason
        raise BackendError(f"mthree readout calibration of qubits {qubits} failed: {type(exc).__name__}: {exc}; "
                           "run without readout mitigation (readout 'none')") from None
    job_ids = []
    for job in jobs:
        try:
            job_ids.append(str(job.job_id()))
        except Exception:  # noqa: BLE001 - a wrapped job without an id is still counted
            job_ids.append("")
    return {"matrices": [np.asarray(matrices[q], dtype=float).tolist() for q in qubits], "qubits": qubits,
            "shots": int(mitigator.cal_shots or 0), "method": mitigator.cal_method, "jobs": len(jobs),
            "job_ids": job_ids}


def mitigated_expectations(bits, layout: Sequence[int], calibration: dict[str, Any]) -> np.ndarray:
    """⟨Z_q⟩ per clip from a Sampler bit array, readout-corrected with M3 ``[shape=(n_clips, n_qubits)]``.

    Parameters
    ----------
    bits : qiskit.primitives.BitArray [shape=(n_clips,)]
        The ``meas`` register of the job's one PUB.
    layout : sequence of int
        Bit of each logical qubit in ``bits``.
    calibration : dict
        From :func:`calibrate` (one matrix per logical qubit, same order as ``layout``).

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

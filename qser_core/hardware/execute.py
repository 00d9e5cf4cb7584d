"""One primitive job per evaluation set: EstimatorV2 (⟨Z⟩ per qubit) or SamplerV2 (⟨Z⟩ from bit strings).

``qser hardware run --model DIR --backend ibm_fez --fake --shots 1024`` sends one job through this module.

The same ``qiskit_ibm_runtime`` primitives serve every target. On IBM Quantum the mode is the
backend itself (job mode: Open Plan accounts cannot open sessions), and every job carries a
``max_execution_time`` so IBM cancels it rather than let a misestimate use up the account's window.
Offline, the mode is an ``AerSimulator`` built from the device's calibration
(:mod:`qser_core.hardware.noise`), which puts the primitives in their local testing mode: same
calls, same result objects, no network.

Every test clip is one row of parameter values of the single transpiled circuit; the whole set (and
the training clips of a readout recalibration, appended) is ONE PUB of ONE job. The Sampler path
measures exactly the layout's qubits into an n-bit register ``meas`` (bit j = logical qubit j):
the runtime refuses circuits touching a qubit the device reports faulty, so idle qubits are never
measured. With mthree readout mitigation, M3's calibration circuits follow as further PUBs of that
same job, at the same shot count (:mod:`qser_core.hardware.readout`). A Sampler job over IBM's
limit of 10 million executions is refused with a message (nothing is split; IBM splits Estimator
jobs itself).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from qser_core.errors import BackendError, ConfigError
from qser_core.hardware import noise
from qser_core.hardware.circuit import IsaCircuit
from qser_core.hardware.readout import READOUT_METHODS

__all__ = ["PRIMITIVES", "RESILIENCE_LEVELS", "MAX_EXECUTIONS", "Mitigation", "Execution", "LocalTarget",
           "local_target", "measured_circuit", "submit", "expectations", "job_status"]

PRIMITIVES = ("estimator", "sampler")
#: Estimator resilience levels and what IBM applies at each.
RESILIENCE_LEVELS = {0: "none", 1: "measurement twirling + TREX readout mitigation",
                     2: "level 1 + gate twirling + zero-noise extrapolation"}
#: IBM's Sampler job limit: circuits after broadcasting × shots (guide "Job limits"; Estimator jobs are split by IBM).
MAX_EXECUTIONS = 10_000_000


@dataclass(frozen=True)
class Mitigation:
    """Error mitigation asked for, recorded with every job.

    Parameters
    ----------
    resilience_level : {0, 1, 2}, default=1
        Estimator resilience level (see :data:`RESILIENCE_LEVELS`).
    dynamical_decoupling : bool, default=False
        Pulse sequences on idle qubits (Estimator and Sampler).
    readout : {"none", "mthree"}, default="none"
        Sampler-path readout mitigation: ``"mthree"`` calibrates the measured qubits with M3 and
        corrects the counts (:mod:`qser_core.hardware.readout`), offline and on IBM Quantum alike.
    """

    resilience_level: int = 1
    dynamical_decoupling: bool = False
    readout: str = "none"

    def __post_init__(self) -> None:
        if self.resilience_level not in RESILIENCE_LEVELS:
            raise ConfigError(f"resilience level must be 0, 1 or 2; got {self.resilience_level!r}")
        if self.readout not in READOUT_METHODS:
            raise ConfigError(f"readout mitigation must be one of {', '.join(READOUT_METHODS)}; got {self.readout!r}")

    def options(self, primitive: str) -> dict[str, Any]:
        """The primitive's options for IBM hardware (local testing mode ignores them)."""
        opts: dict[str, Any] = {"dynamical_decoupling": {"enable": self.dynamical_decoupling}}
        if primitive == "estimator":
            opts["resilience_level"] = self.resilience_level
        return opts

    def describe(self, primitive: str, *, applied: bool) -> dict[str, Any]:
        """What a record says: the settings, and whether the target applied them."""
        return {**asdict(self), "primitive": primitive, "applied": applied,
                "meaning": RESILIENCE_LEVELS[self.resilience_level] if primitive == "estimator" else "sampler"}


@dataclass
class LocalTarget:
    """What a local (simulated) job runs on: the Aer mode and the circuits renumbered for it."""

    mode: Any
    circuit: Any
    observables: list
    layout: list[int]  # compact wire of each logical qubit
    noise_scale: float
    measured: Any = None  # :func:`measured_circuit` of the device circuit, renumbered like ``circuit``


def measured_circuit(circuit, layout) -> Any:
    """``circuit`` with the layout's qubits measured into a register ``meas`` of ``len(layout)`` bits.

    Bit ``j`` holds physical qubit ``layout[j]``, i.e. logical qubit ``j``; no other qubit is
    measured (a device refuses circuits that touch a qubit it reports faulty).

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> measured = measured_circuit(QuantumCircuit(5), [3, 1])
    >>> measured.cregs[0].name, measured.num_clbits, [measured.find_bit(i.qubits[0]).index for i in measured.data]
    ('meas', 2, [3, 1])
    """
    from qiskit.circuit import ClassicalRegister

    out = circuit.copy()
    register = ClassicalRegister(len(layout), "meas")
    out.add_register(register)
    out.measure([int(q) for q in layout], register)
    return out


def local_target(isa: IsaCircuit, device, *, noise_scale: float = 1.0, seed: int | None = None) -> LocalTarget:
    """An ``AerSimulator`` of the circuit's qubits of ``device`` with noise × λ, and the circuit for it.

    Parameters
    ----------
    isa : IsaCircuit
        Transpiled for ``device`` (:func:`qser_core.hardware.circuit.transpile_for`).
    device : qiskit.providers.BackendV2
        The fake (or real) backend whose calibration gives the noise.
    noise_scale : float, default=1.0
        λ ≥ 0 (0 = noiseless with shot noise).
    seed : int, optional
        Aer's ``seed_simulator``.
    """
    qubits = noise.active_qubits(isa.circuit)
    index = {q: i for i, q in enumerate(qubits)}
    # the hardware path's measured circuit, renumbered: offline and on the device the same circuit runs
    measured = noise.compact_circuit(measured_circuit(isa.circuit, isa.layout), qubits)
    return LocalTarget(mode=noise.noisy_simulator(device, qubits, noise_scale=noise_scale, seed=seed),
                       circuit=noise.compact_circuit(isa.circuit, qubits),
                       observables=[noise.compact_observable(o, qubits) for o in isa.observables],
                       layout=[index[q] for q in isa.layout], noise_scale=float(noise_scale), measured=measured)


@dataclass
class Execution:
    """A submitted job and what is needed to read its result.

    Attributes
    ----------
    job : qiskit_ibm_runtime job
        ``RuntimeJobV2`` on IBM Quantum, ``LocalRuntimeJob`` offline.
    job_id : str
    primitive : {"estimator", "sampler"}
    n_rows : int
        Parameter sets (clips) in the job.
    layout : list of int
        Wire of each logical qubit in the circuit the job ran (sampler bit order).
    shots : int
    local : bool
    submitted_s : float
        Seconds to build and submit.
    max_execution_time : int or None
        The limit IBM enforces on the job (None offline).
    """

    job: Any
    job_id: str
    primitive: str
    n_rows: int
    layout: list[int]
    shots: int
    local: bool
    submitted_s: float = 0.0
    mitigation: dict = field(default_factory=dict)
    max_execution_time: int | None = None  # seconds; set on IBM Quantum jobs only
    measured_qubits: list[int] = field(default_factory=list)  # device qubits the Sampler measured (bit j ← qubit j)


def _check_angles(angles, n_qubits: int) -> np.ndarray:
    angles = np.asarray(angles, dtype=float)
    if angles.ndim != 2 or angles.shape[1] != n_qubits or len(angles) == 0:
        raise BackendError(f"angles must have shape (n_clips, {n_qubits}) with n_clips >= 1; got {angles.shape}")
    if not np.isfinite(angles).all():
        raise BackendError("angles must be finite; got NaN or infinity (check the reducer's input)")
    return angles


def executions(n_rows: int, shots: int) -> int:
    """Circuit executions IBM counts for one job (all ⟨Z_q⟩ commute: one circuit per row)."""
    return int(n_rows) * int(shots)


def submit(isa: IsaCircuit, angles, *, target: LocalTarget | Any, shots: int, primitive: str = "estimator",
           mitigation: Mitigation | None = None, seed: int | None = None,
           max_execution_time: int | None = None) -> Execution:
    """Send ONE primitive job: every row of ``angles`` is one parameter set of the same circuit.

    Parameters
    ----------
    isa : IsaCircuit
    angles : array-like [shape=(n_clips, n_qubits)]
    target : LocalTarget or IBM backend
        A :func:`local_target` (offline) or an IBM backend (job mode on the device).
    shots : int
        Shots per clip (1-100,000).
    primitive : {"estimator", "sampler"}, default="estimator"
    mitigation : Mitigation, optional
        Applied on IBM Quantum; recorded but not applied offline (local testing mode ignores it).
    seed : int, optional
        Offline shot sampling seed.
    max_execution_time : int, optional
        QPU seconds after which IBM cancels the job (required on IBM Quantum; ignored offline).

    Returns
    -------
    Execution

    Raises
    ------
    ConfigError
        For an unknown primitive or shots out of range.
    BackendError
        For angles of the wrong shape, a job over IBM's execution limit, or a refused submission.
    """
    from qiskit_ibm_runtime import EstimatorV2, SamplerV2

    if primitive not in PRIMITIVES:
        raise ConfigError(f"primitive must be one of {', '.join(PRIMITIVES)}; got {primitive!r}")
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or not 1 <= shots <= 100_000:
        raise ConfigError(f"shots must be an integer between 1 and 100000; got {shots!r}")
    mitigation = mitigation or Mitigation()
    if mitigation.readout != "none" and primitive != "sampler":
        raise ConfigError(f"readout mitigation {mitigation.readout!r} corrects the Sampler's bit strings; use the "
                          "sampler primitive (--sampler), or Estimator resilience level 1 (TREX) on hardware")
    local = isinstance(target, LocalTarget)
    n_qubits = len(isa.observables)
    angles = _check_angles(angles, n_qubits)
    if not local and max_execution_time is None:
        raise ConfigError("a job on IBM Quantum needs max_execution_time (estimate × 1.5, capped by what is left)")
    if not local and primitive == "sampler" and executions(len(angles), shots) > MAX_EXECUTIONS:
        raise BackendError(f"{len(angles)} clips × {shots} shots = {executions(len(angles), shots):,} executions, "
                           f"over IBM's Sampler limit of {MAX_EXECUTIONS:,} per job; use --clips or fewer shots")
    circuit = target.circuit if local else isa.circuit
    observables = target.observables if local else isa.observables
    layout = target.layout if local else isa.layout
    mode = target.mode if local else target
    start = time.perf_counter()
    described = mitigation.describe(primitive, applied=not local)
    calibration: list[tuple] = []
    if mitigation.readout == "mthree":  # calibration circuits ride in the same job, after the evaluation PUB
        from qser_core.hardware.readout import calibration_plan, calibration_pubs

        plan = calibration_plan(len(layout), shots=int(shots))
        calibration = calibration_pubs(circuit.num_qubits, layout, plan)
        described.update(readout_applied=True, readout_calibration=plan)
    options: dict[str, Any] = {"default_shots": int(shots)}
    if local:
        mode.set_options(**noise.parallel_options(len(angles)))  # circuits side by side, one thread each
        if seed is not None:
            options["simulator"] = {"seed_simulator": int(seed)}
    else:
        options.update(mitigation.options(primitive), max_execution_time=int(max_execution_time))
    try:
        if primitive == "estimator":
            # observables (n_qubits, 1) against parameter rows (n,) broadcast to evs (n_qubits, n)
            pub = (circuit, [[obs] for obs in observables], angles)
            job = EstimatorV2(mode=mode, options=options).run([pub])
        else:
            measured = target.measured if local else measured_circuit(isa.circuit, isa.layout)
            job = SamplerV2(mode=mode, options=options).run([(measured, angles), *calibration])
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001 - the service's refusal, shown with its reason
        raise BackendError(f"{primitive} job was refused by {isa.backend}: {type(exc).__name__}: {exc}") from None
    return Execution(job=job, job_id=job.job_id(), primitive=primitive, n_rows=len(angles), layout=list(layout),
                     shots=int(shots), local=local, submitted_s=time.perf_counter() - start, mitigation=described,
                     max_execution_time=None if local else int(max_execution_time),
                     measured_qubits=list(isa.layout) if primitive == "sampler" else [])


def expectations(result, *, primitive: str, layout: list[int], mitigation: dict | None = None) -> np.ndarray:
    """⟨Z_q⟩ per clip and logical qubit ``[shape=(n_clips, n_qubits)]`` from a primitive result.

    Parameters
    ----------
    result : qiskit.primitives.PrimitiveResult
        Of a job sent by :func:`submit` (one PUB).
    primitive : {"estimator", "sampler"}
    layout : list of int
        Wire of each logical qubit (read only for results of older jobs that measured every wire;
        the ``meas`` register of a job sent now holds bit j = logical qubit j).
    mitigation : dict, optional
        ``Execution.mitigation`` (or a job record's): a Sampler result with mthree readout mitigation
        is corrected with the calibration PUBs of the same job (their matrices are added to
        ``mitigation["readout_calibration"]``, so the stored result keeps them).
    """
    pub = result[0]
    if primitive == "estimator":
        return np.asarray(pub.data.evs, dtype=float).T.copy()
    bits = pub.data.meas  # BitArray, shape (n_clips,), bits little-endian
    if bits.num_bits == len(layout):  # the layout's qubits only: bit j is logical qubit j
        layout = list(range(len(layout)))
    if mitigation and mitigation.get("readout") == "mthree":
        from qser_core.hardware.readout import complete_calibration, mitigated_expectations

        calibration = complete_calibration(mitigation["readout_calibration"], result)  # recorded with the result
        return mitigated_expectations(bits, layout, calibration)
    unpacked = np.unpackbits(bits.array, axis=-1, bitorder="big")  # (n, shots, 8 * n_bytes), MSB first
    wires = 8 * bits.array.shape[-1] - 1 - np.asarray(layout)
    return 1.0 - 2.0 * unpacked[..., wires].mean(axis=1)


def wait(execution: Execution, *, timeout: float | None = None):
    """Block until the job ends; its result, or :class:`BackendError` with IBM's reason."""
    try:
        return execution.job.result(timeout=timeout) if timeout is not None else execution.job.result()
    except Exception as exc:  # noqa: BLE001 - failed, cancelled or lost jobs carry their reason here
        from qser_core.hardware.backends import redact

        status, reason = job_status(execution.job)
        key = getattr(getattr(getattr(execution.job, "_service", None), "_account", None), "token", None)
        raise BackendError(redact(f"job {execution.job_id} ended {status}: {reason or exc}", key)) from None


def job_status(job) -> tuple[str, str]:
    """``(status, reason)`` of a primitive job; the reason is IBM's error message when it failed."""
    try:
        status = job.status()
    except Exception as exc:  # noqa: BLE001 - a status poll that fails is itself a status
        return "UNKNOWN", f"status could not be read: {type(exc).__name__}: {exc}"
    status = getattr(status, "name", str(status))
    reason = ""
    if status in ("ERROR", "CANCELLED"):
        for attr in ("error_message",):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    reason = getattr(job, attr)() or ""
                except Exception:  # noqa: BLE001 - local jobs have no error_message
                    reason = ""
        if not reason and status == "CANCELLED":
            reason = "cancelled"
        if not reason:
            try:
                job.result()
            except Exception as exc:  # noqa: BLE001
                reason = f"{type(exc).__name__}: {exc}"
    return status, reason

"""A trained quantum head on the test clips: ideal simulation, device noise, IBM hardware — side by side.

``qser hardware run --model DIR --backend ibm_fez --fake --shots 1024 --recalibrate 100``.

The steps, each its own module: export the circuit with the trained weights bound and transpile it
once (:mod:`~qser_core.hardware.circuit`), estimate QPU time (:mod:`~qser_core.hardware.estimate`),
send the test clips (and any recalibration clips) as ONE primitive job (:mod:`~qser_core.hardware.execute`),
record the job the moment it is submitted (:mod:`~qser_core.hardware.records`), then score every
target and compare them clip by clip (:mod:`~qser_core.hardware.compare`). The ideal target is the
exact statevector of the trained head (the torch simulator, no shots, no job).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qser_core.config import HardwareConfig
from qser_core.errors import ConfigError, DataError
from qser_core.hardware import compare
from qser_core.hardware.circuit import export_circuit, head_weights, transpile_for
from qser_core.hardware.execute import Mitigation

__all__ = ["ClipSet", "DeviceRun", "clip_sets", "ideal_expvals", "prepare_run", "score_run"]


@dataclass
class ClipSet:
    """Clips sent together: names, true labels and the angles the head encodes."""

    clips: list[str]
    y_true: np.ndarray
    angles: np.ndarray

    def __len__(self) -> int:
        return len(self.clips)


def _subset(y: np.ndarray, n: int | None, seed: int, *, what: str = "test clips") -> np.ndarray:
    """``n`` row positions stratified by label (all rows when ``n`` is None or not smaller, with a warning if larger)."""
    rows = np.arange(len(y))
    if n is not None and not isinstance(n, bool) and n > len(y):
        warnings.warn(f"{n} {what} asked for, but the model has {len(y)}; all {len(y)} are used", stacklevel=3)
    if n is None or n >= len(y):
        return rows
    if isinstance(n, bool) or n < 1:
        raise ConfigError(f"clips must be a positive number of clips; got {n!r}")
    from sklearn.model_selection import train_test_split

    stratify = y if n >= len(np.unique(y)) and np.bincount(y).min() >= 2 else None
    chosen, _ = train_test_split(rows, train_size=int(n), stratify=stratify, random_state=seed)
    return np.sort(chosen)


def clip_sets(model, *, features=None, n_clips: int | None = None, n_train: int = 0,
              seed: int = 0) -> tuple[ClipSet, ClipSet | None]:
    """The model's test clips (a stratified subset with ``n_clips``) and ``n_train`` training clips.

    Parameters
    ----------
    model : qser_core.experiments.models.trained.TrainedModel
        A quantum head saved by ``qser train --out DIR``.
    features : FeatureSet, optional
        The model's corpus with embeddings (read from the cache when omitted).
    n_clips : int, optional
        Stratified subset of the test clips (to fit a QPU budget); all when omitted.
    n_train : int, default=0
        Training-speaker clips for readout recalibration (0 = none).
    seed : int, default=0

    Returns
    -------
    test : ClipSet
    train : ClipSet or None
    """
    from qser_core.data.splits import split_by_speaker
    from qser_core.experiments.pipeline import prepare

    config = model.config
    features = features if features is not None else prepare(config)
    split = split_by_speaker(features.table, val_fraction=config.data.val_fraction,
                             test_fraction=config.data.test_fraction, seed=config.data.split_seed)

    def make(rows: np.ndarray) -> ClipSet:
        return ClipSet(clips=[Path(p).name for p in features.table["path"].iloc[rows]],
                       y_true=features.labels[rows].astype(int),
                       angles=model.reducer.transform(features.embeddings[rows]).astype(float))

    test_rows = split.test[_subset(features.labels[split.test], n_clips, seed)]
    if not n_train:
        return make(test_rows), None
    train_rows = split.train[_subset(features.labels[split.train], n_train, seed, what="recalibration clips")]
    return make(test_rows), make(train_rows)


def ideal_expvals(model, angles) -> np.ndarray:
    """Exact ⟨Z_q⟩ of the trained circuit (the head's own simulator, float64) ``[shape=(n, n_qubits)]``."""
    import torch

    from qser_core.heads.simulator import TorchStatevector

    weights, _, _ = head_weights(model.head)
    sim = TorchStatevector(model.head.spec_, dtype=torch.complex128)
    with torch.no_grad():
        return sim(torch.as_tensor(np.asarray(angles, dtype=float)), torch.as_tensor(weights)).double().numpy()


@dataclass
class DeviceRun:
    """Everything a hardware or noisy run needs before and after its one job.

    Attributes
    ----------
    model_info : dict
        ``path``, ``run_id``, ``n_qubits``, ``n_layers``, ``encoding``, ``ansatz``.
    backend : str
    local : bool
        Simulated offline (fake backend, Aer) rather than sent to IBM Quantum.
    isa : IsaCircuit
    test, train : ClipSet, ClipSet or None
    readout : tuple of np.ndarray
        The head's final linear layer ``(W [6, n_qubits], b [6])``.
    ideal : np.ndarray
        Exact ⟨Z⟩ of the test clips.
    shots : int
    noise_scale : float or None
        λ for offline runs; None on hardware.
    mitigation : Mitigation
    primitive : str
    hardware : HardwareConfig or None
        The config the run was planned from, its ``backend`` the device chosen (recorded with the job).
    estimate : dict
        QPU-time estimate (:func:`qser_core.hardware.estimate.estimate_qpu_time`), with the budget
        it was checked against (:func:`qser_core.hardware.estimate.budget_check`) once planned.
    """

    model_info: dict
    backend: str
    local: bool
    isa: Any
    test: ClipSet
    train: ClipSet | None
    readout: tuple
    ideal: np.ndarray
    shots: int
    noise_scale: float | None
    mitigation: Mitigation
    primitive: str
    estimate: dict = field(default_factory=dict)
    seed: int = 0
    hardware: HardwareConfig | None = None

    @property
    def angles(self) -> np.ndarray:
        """Parameter rows of the one job: test clips, then recalibration clips."""
        return self.test.angles if self.train is None else np.vstack([self.test.angles, self.train.angles])


def prepare_run(model, device, hardware: HardwareConfig | None = None, *, local: bool, seed: int = 0,
                features=None, model_path: str | None = None) -> DeviceRun:
    """Export, transpile once, pick the clips and estimate QPU time — everything before dispatch.

    Parameters
    ----------
    model : TrainedModel
        With a fitted quantum head.
    device : qiskit.providers.BackendV2
        Fake backend (offline) or IBM backend.
    hardware : HardwareConfig, optional
        Shots, primitive, mitigation, transpiler level, seeds tried and layout, clips, recalibration
        clips and λ (ignored on hardware); default :class:`~qser_core.config.HardwareConfig`.
    local : bool
        Simulate offline with the device's noise (True) or send to IBM Quantum (False).
    seed : int, default=0
    features : FeatureSet, optional
    model_path : str, optional
        Where the model was loaded from (recorded).

    Returns
    -------
    DeviceRun
        With ``hardware`` set to ``hardware`` whose ``backend`` names the device chosen.
    """
    from qser_core.hardware.estimate import estimate_qpu_time
    from qser_core.hardware.readout import calibration_circuits, calibration_plan

    hw = hardware or HardwareConfig()
    head = model.head
    if getattr(model.config.head, "kind", "quantum") != "quantum" or not hasattr(head, "ansatz"):
        raise ConfigError(f"hardware runs need a quantum head; the model at {model_path or '?'} has head "
                          f"{model.config.head.kind!r}. Train one with `qser train --head quantum --out DIR`")
    weights, readout_w, readout_b = head_weights(head)
    spec = head.spec_
    exported = export_circuit(weights, spec=spec)
    isa = transpile_for(exported, device, optimization_level=hw.optimization_level,
                        initial_layout=list(hw.layout) or None, seed=seed, trials=hw.transpile_trials)
    test, train = clip_sets(model, features=features, n_clips=hw.clips or None, n_train=hw.recalibrate, seed=seed)
    run = DeviceRun(
        model_info={"path": model_path, "run_id": model.run_id, "n_qubits": spec.n_qubits,
                    "n_layers": spec.n_layers, "encoding": spec.encoding, "ansatz": spec.ansatz},
        backend=isa.backend, local=local, isa=isa, test=test, train=train, readout=(readout_w, readout_b),
        ideal=ideal_expvals(model, test.angles), shots=hw.shots, noise_scale=hw.noise_scale if local else None,
        mitigation=Mitigation.from_config(hw), primitive=hw.primitive, seed=seed,
        hardware=dataclasses.replace(hw, backend=isa.backend))
    readout = hw.readout == "mthree"  # the config allows it with the sampler only
    run.estimate = estimate_qpu_time(
        isa, device, n_rows=len(run.angles), shots=hw.shots,
        resilience_level=hw.resilience_level if hw.primitive == "estimator" else 0,
        calibration_circuits=calibration_circuits(calibration_plan(spec.n_qubits, shots=hw.shots)) if readout else 0)
    return run


def score_run(run: DeviceRun, expvals: np.ndarray, *, jobs: int, recalibrated: bool = True) -> dict[str, Any]:
    """Scores of ideal and noisy/hardware targets, their agreement, and the recalibrated readout.

    Parameters
    ----------
    run : DeviceRun
    expvals : np.ndarray [shape=(n_test + n_train, n_qubits)]
        ⟨Z⟩ of the job's rows (test clips first).
    jobs : int
        Primitive jobs that produced ``expvals``.

    Returns
    -------
    dict
        ``ideal`` and ``noisy`` or ``hardware`` (each :func:`compare.target_scores`), ``agreement``
        (device vs ideal), ``recalibrated`` (when training clips ran), per-clip ``clips``/``y_true``.
    """
    from qser_core.hardware.recalibrate import refit_readout

    n_test = len(run.test)
    expvals = np.asarray(expvals, dtype=float)
    if expvals.shape != (len(run.angles), run.ideal.shape[1]):
        raise DataError(f"job result has shape {expvals.shape}; expected {(len(run.angles), run.ideal.shape[1])}")
    name = "noisy" if run.local else "hardware"
    w, b = run.readout
    out: dict[str, Any] = {"clips": run.test.clips, "y_true": run.test.y_true.tolist(), "device_target": name}
    out["ideal"] = compare.target_scores(run.test.y_true, run.ideal, w, b, jobs=0)
    out[name] = compare.target_scores(run.test.y_true, expvals[:n_test], w, b, jobs=jobs)
    out["agreement"] = compare.agreement(run.test.y_true, out["ideal"], out[name], run.ideal, expvals[:n_test])
    out["expvals"] = {"ideal": run.ideal.tolist(), name: expvals[:n_test].tolist()}
    if run.train is not None and recalibrated:
        w2, b2 = refit_readout(expvals[n_test:], run.train.y_true, init=(w, b), seed=run.seed)
        out["recalibrated"] = compare.target_scores(run.test.y_true, expvals[:n_test], w2, b2, jobs=0)
        out["recalibrated"]["n_train"] = len(run.train)
        out["recalibrated"]["readout"] = {"weight": w2.tolist(), "bias": b2.tolist()}
    return out


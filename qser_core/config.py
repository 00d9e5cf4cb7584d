"""One typed configuration for a QSER Lab experiment.

``qser config show --set head.n_layers=4`` prints the resolved configuration.

:class:`QserConfig` is a frozen dataclass made of one section per pipeline
stage. It is what the CLI reads (``--config PATH`` and repeatable
``--set section.field=value``), what the dashboard edits, what every run
records, and what cache keys are derived from (:meth:`QserConfig.digest`).
Secrets such as the IBM Quantum token are never fields.

Renamed fields stay readable: ``head.simulator`` (before the executor registry) is read as
``head.executor`` in TOML files, dicts and ``--set`` overrides, so old run records still load.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import tomllib
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from qser_core.errors import ConfigError

__all__ = [
    "DATASETS",
    "BACKBONES",
    "HEAD_KINDS",
    "ENCODINGS",
    "ANSATZE",
    "EXECUTORS",
    "N_CLASSES",
    "REDUCE_METHODS",
    "QUBIT_RANGE",
    "LAYER_RANGE",
    "DataConfig",
    "AudioConfig",
    "FeatureConfig",
    "EmbeddingConfig",
    "ReduceConfig",
    "HeadConfig",
    "TrainConfig",
    "HardwareConfig",
    "QserConfig",
    "load_config",
    "empty_mel_bands",
    "max_mel_bands",
    "qser_home",
    "RENAMED_FIELDS",
    "STAGE_SECTIONS",
]

# Closed vocabularies shared by the config, the CLI and the dashboard.
DATASETS = ("demo", "crema-d", "ravdess", "emodb", "tess", "manifest")
BACKBONES = (
    "efficientnet-lite0",
    "panns-cnn14",
    "panns-cnn10",
    "panns-cnn6",
    "panns-mobilenetv1",
    "egemaps",
    "random-cnn",
)
REDUCE_METHODS = ("pca", "pls")
HEAD_KINDS = ("logreg", "mlp", "mlp-matched", "quantum")
ENCODINGS = ("angle-ry", "angle-rx", "reupload")
ANSATZE = ("basic", "strong", "hea")
#: Trainable executors built into the registry (``qser_core.heads.executors``, which may hold more: any
#: registered name is accepted). Listed here so menus need not import torch and PennyLane.
EXECUTORS = ("torch", "default.qubit", "lightning.qubit")

#: The six emotions shared by every corpus; integer labels index into this tuple.
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
#: Outputs of every head: one per emotion.
N_CLASSES = len(EMOTIONS)
#: Allowed qubits (= PCA components), inclusive: 2 is the fewest that can entangle; 12 is what
#: the simulators train at interactive speed (a 2**12 statevector per sample).
QUBIT_RANGE = (2, 12)
#: Allowed ansatz layers, inclusive.
LAYER_RANGE = (1, 8)
#: Qiskit Runtime primitives of the hardware stage: EstimatorV2 (⟨Z⟩ observables) or SamplerV2 (bit strings).
PRIMITIVES = ("estimator", "sampler")
#: Readout mitigation methods of the Sampler path.
READOUT_METHODS = ("none", "mthree")
#: Transpiler seeds tried per export; the circuit with the fewest two-qubit gates is kept (~0.03 s per seed).
TRANSPILE_TRIALS = 8


#: Largest seed (NumPy's generators take 0 .. 2**32 - 1).
SEED_MAX = 2**32 - 1


def nearest_existing(path: Path) -> Path:
    """``path`` itself when it exists, else its nearest existing parent: what decides whether ``path`` can be a
    folder (a file there means it cannot) and whether it can be created (that parent must be writable)."""
    return next((p for p in (path, *path.parents) if p.exists()), Path(path.anchor or "."))


def qser_home() -> Path:
    """Folder for caches, the demo corpus and run records (``$QSER_HOME``, default ``~/.cache/qser``)."""
    return Path(os.environ.get("QSER_HOME", Path.home() / ".cache" / "qser")).expanduser()


def _check_choice(section: str, name: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{section}.{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_range(section: str, name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{section}.{name} must be between {low} and {high}; got {value!r}")


class _Section:
    """Shared behaviour of the config sections: type checks and ``key`` exclusion."""

    #: Fields that do not change results (batch sizes, folders) and stay out of cache keys.
    _not_in_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            expected = hints[f.name]
            if typing.get_origin(expected) is tuple:
                if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    raise ConfigError(f"{self._name()}.{f.name} must be a list of integers; got {value!r}")
                continue
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                continue
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(
                    f"{self._name()}.{f.name} must be of type {expected.__name__}; got {value!r}"
                )
        self._validate()

    @classmethod
    def _name(cls) -> str:
        return cls.__name__.removesuffix("Config").lower()

    def _validate(self) -> None:  # overridden by sections with ranges
        pass

    def key_dict(self) -> dict[str, Any]:
        """The fields that change results, as plain values (what cache keys hash)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self._not_in_key}


@dataclass(frozen=True)
class DataConfig(_Section):
    dataset: str = "demo"  # demo | crema-d | ravdess | emodb | tess | manifest
    data_dir: str = ""  # folder of clips (for manifest: the CSV); empty with demo = generated corpus
    val_fraction: float = 0.15  # share of speakers held out for validation (early stopping)
    test_fraction: float = 0.2  # share of speakers held out for the single train/val/test split
    n_folds: int = 5  # speaker-disjoint folds for cross-validation
    split_seed: int = 0  # seed of the speaker assignment to parts and folds

    def _validate(self) -> None:
        _check_choice("data", "dataset", self.dataset, DATASETS)
        _check_range("data", "val_fraction", self.val_fraction, 0.0, 0.5)
        _check_range("data", "test_fraction", self.test_fraction, 0.05, 0.5)
        _check_range("data", "n_folds", self.n_folds, 2, 20)
        _check_range("data", "split_seed", self.split_seed, 0, SEED_MAX)  # NumPy's seeds are 0 .. 2**32 - 1
        if self.dataset != "demo" and not self.data_dir:
            raise ConfigError(
                f"data.data_dir is empty but data.dataset is {self.dataset!r}; "
                "set data.data_dir to the corpus folder (or use data.dataset=demo)"
            )


@dataclass(frozen=True)
class AudioConfig(_Section):
    sr: int = 16000  # sampling rate every clip is resampled to (Hz)
    duration: float = 3.0  # fixed clip length after trimming: crop or zero-pad (s)
    top_db: float = 40.0  # leading/trailing audio this far below peak counts as silence (dB)
    max_seconds: float = 60.0  # longer files are refused as not being single utterances (s)

    def _validate(self) -> None:
        _check_range("audio", "sr", self.sr, 4000, 96000)
        _check_range("audio", "duration", self.duration, 0.5, 30.0)
        _check_range("audio", "top_db", self.top_db, 10.0, 120.0)
        _check_range("audio", "max_seconds", self.max_seconds, 1.0, 3600.0)


@dataclass(frozen=True)
class FeatureConfig(_Section):
    n_fft: int = 1024  # FFT window length (samples)
    hop_length: int = 160  # hop between frames (samples); 10 ms at 16 kHz
    n_mels: int = 128  # mel bands; 128 beat 64 by +4 UA points on EmoDB (docs/front_end.md)
    fmin: float = 50.0  # lowest mel band edge (Hz)
    fmax: float = 8000.0  # highest mel band edge (Hz); at most sr / 2

    def _validate(self) -> None:
        _check_range("features", "n_fft", self.n_fft, 64, 8192)
        _check_range("features", "hop_length", self.hop_length, 16, self.n_fft)
        _check_range("features", "n_mels", self.n_mels, 8, 256)
        if not 0 <= self.fmin < self.fmax:
            raise ConfigError(f"features.fmin must be >= 0 and below features.fmax; got fmin={self.fmin}, fmax={self.fmax}")

    def check_rate(self, sr: int) -> None:
        """Refuse settings that leave a mel band without any FFT bin at sampling rate ``sr``.

        Such a band is constant (the backbone sees a flat row) and librosa warns "Empty filters
        detected in mel frequency basis". ``QserConfig`` calls this with ``audio.sr``.
        """
        if self.fmax > sr / 2:
            raise ConfigError(f"features.fmax must be at most the Nyquist frequency of audio.sr={sr} Hz ({sr / 2} Hz); "
                              f"got {self.fmax}; lower features.fmax or raise audio.sr")
        empty = empty_mel_bands(sr=sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        if empty:
            most = max_mel_bands(sr=sr, n_fft=self.n_fft, fmin=self.fmin, fmax=self.fmax)
            raise ConfigError(
                f"features.n_mels must be at most {most} so that every mel band holds an FFT bin (n_fft={self.n_fft} "
                f"at audio.sr={sr} Hz, {self.fmin:g}-{self.fmax:g} Hz); got {self.n_mels} ({empty} empty bands); "
                "lower features.n_mels or raise features.n_fft"
            )


def _hz_to_mel(f: float) -> float:
    # Slaney's mel scale, librosa's default (htk=False): linear below 1 kHz, logarithmic above.
    return f / (200 / 3) if f < 1000 else 15 + math.log(f / 1000) / (math.log(6.4) / 27)


def _mel_to_hz(m: float) -> float:
    return m * (200 / 3) if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)


@functools.lru_cache(maxsize=256)  # every QserConfig built checks its own settings (~1 ms each)
def empty_mel_bands(*, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> int:
    """Mel bands of ``librosa.filters.mel(sr=sr, n_fft=n_fft, ...)`` that hold no FFT bin.

    Band ``i`` spans the open interval between mel edges ``i`` and ``i + 2``; it is empty when no
    bin frequency ``k * sr / n_fft`` falls inside (librosa exempts a band starting at 0 Hz). Pure
    Python, so validating a config imports no librosa.
    """
    lo, hi = _hz_to_mel(fmin), _hz_to_mel(fmax)
    edges = [_mel_to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    step, top = sr / n_fft, n_fft // 2
    empty = 0
    for left, right in zip(edges[:-2], edges[2:]):
        k = math.floor(left / step) + 1  # first bin above the left edge
        if left != 0 and not (k <= top and k * step < right):
            empty += 1
    return empty


def max_mel_bands(*, sr: int, n_fft: int, fmin: float, fmax: float, limit: int = 256) -> int:
    """The most mel bands (up to ``limit``) with none empty at these settings (0 if even one band is)."""
    return next((n for n in range(limit, 0, -1)
                 if not empty_mel_bands(sr=sr, n_fft=n_fft, n_mels=n, fmin=fmin, fmax=fmax)), 0)


@dataclass(frozen=True)
class EmbeddingConfig(_Section):
    backbone: str = "efficientnet-lite0"  # pre-trained network that turns clips into embeddings
    batch_size: int = 32  # clips per forward pass (speed only)
    cache_dir: str = ""  # embedding cache folder; empty = $QSER_HOME/embeddings

    _not_in_key = ("batch_size", "cache_dir")

    def _validate(self) -> None:
        _check_choice("embedding", "backbone", self.backbone, BACKBONES)
        _check_range("embedding", "batch_size", self.batch_size, 1, 1024)


@dataclass(frozen=True)
class ReduceConfig(_Section):
    n_qubits: int = 8  # components = qubits of the quantum head (QUBIT_RANGE: 2-12)
    method: str = "pca"  # pca (unsupervised) | pls (partial least squares on the training labels)

    def _validate(self) -> None:
        _check_range("reduce", "n_qubits", self.n_qubits, *QUBIT_RANGE)
        _check_choice("reduce", "method", self.method, REDUCE_METHODS)


@dataclass(frozen=True)
class HeadConfig(_Section):
    kind: str = "quantum"  # logreg | mlp | mlp-matched | quantum
    encoding: str = "angle-ry"  # angle-ry | angle-rx | reupload (re-encode before every layer)
    ansatz: str = "strong"  # basic (BasicEntanglerLayers) | strong (StronglyEntanglingLayers) | hea (RY + CZ ladder)
    n_layers: int = 2  # ansatz layers (LAYER_RANGE: 1-8)
    hidden: int = 32  # hidden units of the mlp head
    executor: str = "torch"  # what runs the circuit: torch (fast) | default.qubit (reference) | lightning.qubit | …
    noise_aware: bool = False  # quantum head: train with the device's sampled gate and readout errors, ⟨Z⟩ normalised
    noise_backend: str = "ibm_fez"  # noise-aware training: fake IBM device whose calibration gives the errors
    noise_scale: float = 1.0  # noise-aware training: λ, device errors × λ (0 = ideal)
    noise_shots: int = 1024  # noise-aware training: shot noise of this many shots per clip (0 = none)

    def key_dict(self) -> dict[str, Any]:
        """As every section's, but the noise fields count only when ``noise_aware`` is on (old keys unchanged)."""
        out = super().key_dict()
        if not self.noise_aware:
            for name in ("noise_aware", "noise_backend", "noise_scale", "noise_shots"):
                out.pop(name, None)
        return out

    def _validate(self) -> None:
        _check_choice("head", "kind", self.kind, HEAD_KINDS)
        _check_choice("head", "encoding", self.encoding, ENCODINGS)
        _check_choice("head", "ansatz", self.ansatz, ANSATZE)
        # the names live in the executor registry (qser_core.heads.executors), which can grow at run
        # time and is too heavy to import here; make_head checks the name before any work starts
        if not self.executor.strip():
            raise ConfigError("head.executor must name an executor (torch, default.qubit, lightning.qubit, …); "
                              "got ''")
        _check_range("head", "n_layers", self.n_layers, *LAYER_RANGE)
        _check_range("head", "hidden", self.hidden, 1, 4096)
        _check_range("head", "noise_scale", self.noise_scale, 0.0, 10.0)
        _check_range("head", "noise_shots", self.noise_shots, 0, 1_000_000)
        if self.noise_aware and not self.noise_backend.strip():
            raise ConfigError("head.noise_backend must name a fake IBM device (ibm_fez, ibm_torino, …) for "
                              "noise-aware training; got ''")


@dataclass(frozen=True)
class TrainConfig(_Section):
    epochs: int = 200  # upper bound on epochs (early stopping usually ends sooner)
    lr: float = 0.05  # Adam learning rate
    batch_size: int = 64  # minibatch size
    patience: int = 30  # epochs without a better validation UA before stopping
    weight_decay: float = 0.0  # Adam L2 penalty
    seeds: tuple[int, ...] = (0,)  # seeds of weight initialisation and minibatch order
    trainable_blocks: int = 1  # hybrid model: last backbone blocks trained end to end
    tune: bool = True  # per split, choose lr / weight decay (PQC: layers) on the validation speakers, same budget for every head

    def _validate(self) -> None:
        _check_range("train", "epochs", self.epochs, 1, 10000)
        _check_range("train", "lr", self.lr, 1e-6, 10.0)
        _check_range("train", "batch_size", self.batch_size, 1, 1_000_000)
        _check_range("train", "patience", self.patience, 1, 10000)
        _check_range("train", "weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("train", "trainable_blocks", self.trainable_blocks, 0, 16)
        if not self.seeds:
            raise ConfigError("train.seeds must list at least one seed; got an empty list")
        bad = [s for s in self.seeds if not 0 <= s <= SEED_MAX]
        if bad:
            raise ConfigError(f"train.seeds must each be between 0 and {SEED_MAX}; got {bad[0]}")


@dataclass(frozen=True)
class HardwareConfig(_Section):
    backend: str = "auto"  # IBM device; auto = account's least-busy operational one with enough qubits (ibm_fez offline)
    shots: int = 1024  # measurement shots per circuit
    optimization_level: int = 1  # Qiskit transpiler optimisation level (0-3)
    instance: str = ""  # IBM Quantum instance CRN (crn:v1:…) jobs run in; empty = QISKIT_IBM_INSTANCE or the account's
    primitive: str = "estimator"  # estimator (EstimatorV2, ⟨Z⟩ observables) | sampler (SamplerV2, ⟨Z⟩ from bit strings)
    resilience_level: int = 1  # Estimator resilience on IBM devices: 0 none, 1 twirled readout + TREX, 2 adds ZNE
    dynamical_decoupling: bool = False  # pulse sequences on idle qubits (IBM devices only; recorded offline)
    readout: str = "none"  # Sampler-path readout mitigation: none | mthree (M3 calibration in the same job)
    transpile_trials: int = TRANSPILE_TRIALS  # transpiler seeds tried; the circuit with fewest two-qubit gates is kept
    layout: tuple[int, ...] = ()  # physical qubit of each circuit qubit; empty = the transpiler's choice
    clips: int = 0  # stratified subset of the test clips sent (to fit a QPU budget); 0 = all test clips
    recalibrate: int = 0  # training clips run in the same job to refit the readout; 0 = off
    noise_scale: float = 1.0  # λ: device noise × λ in offline simulation (0 = noiseless; ignored on IBM devices)

    # How a run is executed, not what experiment it is: sweep cells, the sweep name and tracked runs
    # hash the whole config (``digest()``), so these stay out of the key and resume keys of
    # experiments stay as they were. Each hardware job records the full section instead.
    _not_in_key = ("instance", "primitive", "resilience_level", "dynamical_decoupling", "readout",
                   "transpile_trials", "layout", "clips", "recalibrate", "noise_scale")

    def _validate(self) -> None:
        _check_range("hardware", "shots", self.shots, 1, 1_000_000)
        _check_range("hardware", "optimization_level", self.optimization_level, 0, 3)
        if self.instance and not self.instance.startswith("crn:"):
            raise ConfigError(f"hardware.instance must be an IBM Cloud instance CRN (crn:v1:bluemix:…) or empty; "
                              f"got {self.instance!r}. The hub/group/project form is retired")
        _check_choice("hardware", "primitive", self.primitive, PRIMITIVES)
        _check_range("hardware", "resilience_level", self.resilience_level, 0, 2)
        _check_choice("hardware", "readout", self.readout, READOUT_METHODS)
        if self.readout != "none" and self.primitive != "sampler":
            raise ConfigError(f"hardware.readout must be none with the estimator primitive (readout mitigation "
                              f"corrects the Sampler's bit strings); got readout={self.readout!r} with primitive="
                              f"{self.primitive!r}. Set hardware.primitive=sampler (--sampler) or readout=none")
        _check_range("hardware", "transpile_trials", self.transpile_trials, 1, 64)
        if any(q < 0 for q in self.layout) or len(set(self.layout)) != len(self.layout):
            raise ConfigError(f"hardware.layout must be distinct physical qubit numbers ≥ 0 (or empty for the "
                              f"transpiler's choice); got {list(self.layout)}")
        _check_range("hardware", "clips", self.clips, 0, 1_000_000)
        _check_range("hardware", "recalibrate", self.recalibrate, 0, 1_000_000)
        if not math.isfinite(self.noise_scale) or self.noise_scale < 0:
            raise ConfigError(f"hardware.noise_scale must be a finite number ≥ 0 (0 = noiseless, 1 = device as "
                              f"calibrated); got {self.noise_scale!r}")


#: Old field names still accepted on input: (section, old) → new.
RENAMED_FIELDS = {("head", "simulator"): "executor"}

_SECTIONS: dict[str, type[_Section]] = {
    "data": DataConfig,
    "audio": AudioConfig,
    "features": FeatureConfig,
    "embedding": EmbeddingConfig,
    "reduce": ReduceConfig,
    "head": HeadConfig,
    "train": TrainConfig,
    "hardware": HardwareConfig,
}

#: Sections each cached stage depends on; its key is :meth:`QserConfig.cache_key` (a digest of them).
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "embeddings": ("audio", "features", "embedding"),  # one clip's embedding, whatever corpus it is in
    "features": ("data", "audio", "features", "embedding"),  # a corpus' embedding matrix
    "reduction": ("data", "audio", "features", "embedding", "reduce"),  # PCA angles of a corpus
    "run": tuple(_SECTIONS),  # a trained head and its results: everything
}


@dataclass(frozen=True)
class QserConfig:
    """Everything that describes one experiment, stage by stage.

    Parameters
    ----------
    data, audio, features, embedding, reduce, head, train, hardware : section dataclasses
        One per pipeline stage; every field is typed, defaulted and validated.

    Examples
    --------
    >>> cfg = QserConfig().with_overrides(["reduce.n_qubits=4", "head.ansatz=basic"])
    >>> cfg.reduce.n_qubits, cfg.head.ansatz
    (4, 'basic')
    >>> len(cfg.digest("data", "audio"))
    16
    """

    data: DataConfig = field(default_factory=DataConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    reduce: ReduceConfig = field(default_factory=ReduceConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)

    def __post_init__(self) -> None:
        # the one check across sections: the mel bands depend on the sampling rate (audio.sr)
        self.features.check_rate(self.audio.sr)

    # ----------------------------------------------------------------- building
    @classmethod
    def from_dict(cls, values: Mapping[str, Mapping[str, Any]]) -> "QserConfig":
        """Build from ``{section: {field: value}}``; unknown keys raise :class:`ConfigError`."""
        sections = {}
        for name, section_values in values.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown config section {name!r}; sections are {', '.join(_SECTIONS)}")
            if not isinstance(section_values, Mapping):
                raise ConfigError(f"config section {name!r} must be a table of fields; got {section_values!r}")
            section_cls = _SECTIONS[name]
            section_values = _renamed(name, section_values)
            known = {f.name for f in fields(section_cls)}
            for key in section_values:
                if key not in known:
                    raise ConfigError(
                        f"unknown config field {name}.{key}; fields of [{name}] are {', '.join(sorted(known))}"
                    )
            coerced = {k: _from_plain(section_cls, k, v) for k, v in section_values.items()}
            sections[name] = section_cls(**coerced)
        return cls(**sections)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "QserConfig":
        """Read a TOML file with one table per section (see :meth:`to_toml`)."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"--config {path} is a folder, not a TOML file; give the file itself (write one with "
                              f"`qser config show > {path / 'qser.toml'}`)")
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; write one with `qser config show > {path}`")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); TOML files "
                              f"must be UTF-8: re-save it as UTF-8 or write a new one with `qser config show > {path}`") from exc
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read ({exc.strerror}); check its permissions") from exc
        return cls.from_toml_text(text, source=f"config file {path}")

    @classmethod
    def from_toml_text(cls, text: str, *, source: str = "the config") -> "QserConfig":
        """Parse TOML text (an uploaded file, say); ``source`` names it in error messages."""
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}") from exc
        return cls.from_dict(values)

    def with_overrides(self, overrides: Iterable[str]) -> "QserConfig":
        """Apply ``section.field=value`` strings, parsing each value by the field's type."""
        values = self.to_dict()
        for item in overrides:
            key, sep, raw = item.partition("=")
            section, dot, name = key.strip().partition(".")
            if not sep or not dot:
                raise ConfigError(f"override must look like section.field=value; got {item!r}")
            if section not in _SECTIONS:
                raise ConfigError(f"unknown config section {section!r} in {item!r}; sections are {', '.join(_SECTIONS)}")
            section_cls = _SECTIONS[section]
            name = RENAMED_FIELDS.get((section, name), name)
            known = {f.name: f for f in fields(section_cls)}
            if name not in known:
                raise ConfigError(
                    f"unknown config field {section}.{name}; fields of [{section}] are {', '.join(sorted(known))}"
                )
            values[section][name] = _parse_value(section_cls, name, raw.strip())
        return QserConfig.from_dict(values)

    def replace(self, section: str, **changes: Any) -> "QserConfig":
        """A copy with some fields of one section changed (validated again)."""
        if section not in _SECTIONS:
            raise ConfigError(f"unknown config section {section!r}; sections are {', '.join(_SECTIONS)}")
        return replace(self, **{section: replace(getattr(self, section), **changes)})

    # ---------------------------------------------------------------- exporting
    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain ``{section: {field: value}}`` (tuples become lists), ready for JSON or TOML."""
        return {
            name: {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(getattr(self, name)).items()}
            for name in _SECTIONS
        }

    def to_toml(self) -> str:
        """TOML text that :meth:`from_toml` reads back unchanged."""
        lines = []
        for name, section in self.to_dict().items():
            lines.append(f"[{name}]")
            for key, value in section.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    def cache_key(self, stage: str) -> str:
        """Digest of the sections ``stage`` depends on (:data:`STAGE_SECTIONS`).

        Examples
        --------
        >>> cfg = QserConfig()
        >>> cfg.cache_key("embeddings") == cfg.replace("head", n_layers=5).cache_key("embeddings")
        True
        """
        if stage not in STAGE_SECTIONS:
            raise ConfigError(f"stage must be one of {', '.join(STAGE_SECTIONS)}; got {stage!r}")
        return self.digest(*STAGE_SECTIONS[stage])

    def digest(self, *sections: str) -> str:
        """Stable 16-hex-digit key of the result-changing fields of ``sections`` (all if none)."""
        names = sections or tuple(_SECTIONS)
        for name in names:
            if name not in _SECTIONS:
                raise ConfigError(f"unknown config section {name!r}; sections are {', '.join(_SECTIONS)}")
        payload = {name: getattr(self, name).key_dict() for name in names}
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> QserConfig:
    """The configuration from an optional TOML file plus ``section.field=value`` overrides."""
    base = QserConfig.from_toml(path) if path else QserConfig()
    return base.with_overrides(list(overrides))


# --------------------------------------------------------------------- helpers
def _renamed(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with old field names replaced by their new ones (both given and different: an error)."""
    out = dict(values)
    for (sec, old), new in RENAMED_FIELDS.items():
        if sec != section or old not in out:
            continue
        value = out.pop(old)
        if new in out and out[new] != value:
            raise ConfigError(f"{section}.{old} is the old name of {section}.{new}; give only {section}.{new} "
                              f"(got {old}={value!r} and {new}={out[new]!r})")
        out.setdefault(new, value)
    return out


def _field_type(section_cls: type, name: str) -> Any:
    return typing.get_type_hints(section_cls)[name]


def _from_plain(section_cls: type, name: str, value: Any) -> Any:
    """Turn TOML/JSON values into field values (lists into tuples)."""
    if typing.get_origin(_field_type(section_cls, name)) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def _parse_value(section_cls: type, name: str, raw: str) -> Any:
    expected = _field_type(section_cls, name)
    label = f"{section_cls._name()}.{name}"
    try:
        if typing.get_origin(expected) is tuple:
            return tuple(int(v) for v in raw.strip("[]() ").replace(",", " ").split())
        if expected is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if expected is int:
            return int(raw)
        if expected is float:
            return float(raw)
    except ValueError:
        kind = "a list of integers" if typing.get_origin(expected) is tuple else expected.__name__
        raise ConfigError(f"{label} must be {kind}; got {raw!r}") from None
    return raw


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)

"""Small data the tests make: WAV files, CREMA-D-named folders, synthetic corpus tables, a finished tracked run.

Plain helpers (no fixtures: those live in tests/conftest.py), imported as ``from factories import ...``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS
from qser_core.tracking.recorder import track_run
from qser_core.heads.training import EpochLog
from qser_core.progress import RunContext

#: Run contexts of the protocol tests: recorded nowhere, or in the test's own store.
UNTRACKED = RunContext(track=False)
TRACKED = RunContext(track=True)
#: For modules whose runs are 2 folds × 1 seed to stay short: the product rightly warns that an interval over two
#: values is weak (tests/experiments/test_metrics.py and test_cli.py assert it), so those modules silence the repeats,
#: by the warning's exact words only.
TWO_VALUE_INTERVALS = pytest.mark.filterwarnings("ignore:only 2 values behind this 95% interval")


def write_tone(path, freq: float, *, seed: int = 0, seconds: float = 0.4, sr: int = 16000) -> str:
    """A short windowed tone with a little noise at ``path`` (16-bit WAV); its path as a string."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t)) + 0.005 * rng.standard_normal(len(t))
    sf.write(path, y.astype(np.float32), sr)
    return str(path)


def write_wav(path: Path, *, seconds: float = 0.25, sr: int = 16000, fmt: str | None = None) -> Path:
    """Write a tiny real audio file (noise, seeded by the file name's length) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y = (0.1 * np.random.default_rng(len(path.name)).standard_normal(int(seconds * sr))).astype(np.float32)
    sf.write(path, y, sr, format=fmt)
    return path


def crema_folder(root: Path, actors=(1001, 1002, 1003), emotions=EMOTIONS) -> Path:
    """Write one CREMA-D-named WAV per actor and emotion under `root` and return `root`."""
    for actor in actors:
        for i, emotion in enumerate(emotions):
            write_wav(root / f"{actor}_{['DFA', 'IEO', 'TIE'][i % 3]}_{emotion}_{['XX', 'HI', 'LO', 'MD'][i % 4]}.wav")
    return root


def synthetic_table(n_speakers: int = 20, seed: int = 0) -> pd.DataFrame:
    """A corpus table with uneven clips per speaker and per emotion (no files needed for splits)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        weights = rng.dirichlet(np.ones(6) * 3)
        for e in rng.choice(6, size=int(rng.integers(20, 60)), p=weights):
            rows.append({"path": f"/x/{s}_{len(rows)}.wav", "speaker": f"{1001 + s}", "emotion": EMOTIONS[e]})
    return pd.DataFrame(rows)


def finished_run(config: QserConfig, tmp_path: Path) -> str:
    """Record a finished evaluate run (history, confusion, split, predictions, model, final metrics); return its id."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.json").write_text("{}")
    with track_run(config, run_type="evaluate", tags={"purpose": "test"}) as recorder:
        for epoch in range(4):
            recorder.log_epoch(EpochLog(epoch, 1.0 / (epoch + 1), 0.2 * epoch, 1.5, 0.1 * epoch, 0.1 * epoch, 0.01))
            recorder.log_epoch({"epoch": epoch, "train_loss": 2.0, "val_ua": float("nan")}, prefix="fold1/seed0/")
        recorder.log_confusion(np.eye(6, dtype=int) * 3, ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"])
        recorder.log_split({"train": ["1001", "1002"], "val": ["1003"], "test": ["1004"]})
        recorder.log_json("predictions", {"clips": ["a.wav", "b.wav"], "y_true": [0, 1], "y_pred": {"0": [0, 2]}})
        recorder.log_artifacts(model)
        recorder.log_final({"ua": 0.41, "ua_ci95": (0.35, 0.47), "wa": np.float64(0.43), "macro_f1": 0.4,
                            "params": 24, "head": "quantum", "seeds": [0, 1], "per_class": {"ANG": 0.5}})
    return recorder.run_id

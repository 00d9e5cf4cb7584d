"""Row 5, live prediction: ``python -m benchmarks --only predict``.

A 3-second WAV file to both Live-demo heads' probabilities (logistic regression and the quantum
head, trained on the demo corpus as the dashboard's default models are) through
:func:`qser_core.experiments.models.trained.predict_timed`: decoding, log-mel, backbone once, then each
reducer + head. Warm (the first call is the reference), median of 20 (target <= 300 ms).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import clips, log, median, row, timings

HEADS = ("logreg", "quantum")


def run(quick: bool) -> list[dict]:
    """One row: warm milliseconds per prediction; ``quick`` trains the heads briefly and predicts 5 times."""
    import numpy as np
    import soundfile as sf

    from qser_core.config import QserConfig
    from qser_core.data.audio import audio_kwargs, load_audio
    from qser_core.experiments.models.trained import predict_timed
    from qser_core.experiments.pipeline import prepare
    from qser_core.experiments.protocols.single import train_model
    from qser_core.progress import RunContext

    config = QserConfig().replace("train", epochs=2 if quick else 30)
    features = prepare(config)
    untracked = RunContext(track=False)
    models = {kind: train_model(config.replace("head", kind=kind), features=features, context=untracked) for kind in HEADS}
    with tempfile.TemporaryDirectory(prefix="qser-bench-predict-") as tmp:
        wav = Path(tmp) / "clip.wav"
        y = load_audio(clips(1)[0], **audio_kwargs(config.audio))  # cut/padded to exactly 3 s
        sf.write(wav, y, config.audio.sr, subtype="PCM_16")
        start = time.perf_counter()
        predict_timed(models, str(wav))
        cold = time.perf_counter() - start
        warm = timings(lambda: predict_timed(models, str(wav)), repeat=5 if quick else 20)
        stages = [predict_timed(models, str(wav))[1] for _ in range(3)]
    ms = 1e3 * median(warm)
    log(f"predict: {ms:.0f} ms warm, first call {1e3 * cold:.0f} ms")
    return [row(
        "live prediction, 3-s WAV to both heads' probabilities (warm)", value=ms, unit="ms",
        reference="the first (cold) call in the same process", reference_value=1e3 * cold, ratio=cold / median(warm),
        target=("<=", 300, "value"), repeats=len(warm), heads=list(HEADS), clip_seconds=len(y) / config.audio.sr,
        stages_ms={k: round(1e3 * float(np.median([s[k] for s in stages])), 2) for k in stages[0]},
    )]

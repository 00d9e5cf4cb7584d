"""Row 1, embedding extraction: ``python -m benchmarks --only extract``.

The default backbone (EfficientNet-Lite0) over 3-second clips through ``extract_embeddings``
(threaded decoding overlapped with the batched front end and CNN), in clips/s, against the
per-clip librosa + network loop a user would write (target >= 40 clips/s); then a cached re-run
over a CREMA-D-sized cache index (7,442 entries, target < 2 s) against extracting those clips
afresh at the measured rate.

Clips: EmoDB (``../shared/data/emodb/audio``) where present, else the synthetic demo corpus.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common import clips, log, median, row, timings

N_CREMA = 7442


def run(quick: bool) -> list[dict]:
    """Extraction rows; ``quick`` times fewer clips, once each."""
    n_clips, n_base, repeat = (32, 6, 1) if quick else (300, 40, 3)
    tmp = Path(tempfile.mkdtemp(prefix="qser-bench-extract-"))
    try:
        return _rows(tmp, n_clips=n_clips, n_base=n_base, repeat=repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _rows(tmp: Path, *, n_clips: int, n_base: int, repeat: int) -> list[dict]:
    import pandas as pd
    import torch

    from qser_core.config import QserConfig
    from qser_core.features.backbones import get_backbone
    from qser_core.features.embeddings import extract_embeddings

    paths = clips(n_clips)
    table, config = pd.DataFrame({"path": paths}), QserConfig()
    backbone = get_backbone(config.embedding.backbone, features=config.features)
    backbone.embed(torch.zeros(2, 48000))  # first call builds the folded inference copy; not what we time
    runs = iter(range(10**6))
    extract_embeddings(table[:2], config, cache_dir=tmp / "warm-up")  # thread pool, decoder, allocator
    fresh = timings(lambda: extract_embeddings(table, config, cache_dir=tmp / f"cache{next(runs)}"), repeat=repeat)
    _per_clip_loop(paths[:1], backbone, config)  # librosa's first call compiles (numba) and loads filters
    base = timings(lambda: _per_clip_loop(paths[:n_base], backbone, config), repeat=1 if repeat == 1 else 2)
    rate, base_rate = len(paths) / median(fresh), n_base / median(base)
    log(f"extract: {rate:.1f} clips/s, per-clip loop {base_rate:.1f} clips/s")
    extraction = row(
        "extraction, EfficientNet-Lite0, 3-s clips", value=rate, unit="clips/s",
        reference="per-clip librosa.load + melspectrogram + network loop", reference_value=base_rate,
        ratio=rate / base_rate, target=(">=", 40, "value"), repeats=len(fresh), clips=len(paths),
        reference_clips=n_base, seconds=fresh,
    )
    cached = timings(_crema_sized_cache(tmp, config, backbone), repeat=repeat)
    afresh = N_CREMA / rate
    log(f"extract: cached {N_CREMA} clips in {median(cached):.2f} s")
    rerun = row(
        f"cached re-run, {N_CREMA:,} clips (CREMA-D size)", value=median(cached), unit="s",
        reference=f"extracting {N_CREMA:,} clips afresh at the measured rate", reference_value=afresh,
        ratio=afresh / median(cached), target=("<=", 2, "value"), repeats=len(cached), seconds=cached,
        note="a cache index of 7,442 synthesised entries over empty files: times lookup and loading only",
    )
    return [extraction, rerun]


def _per_clip_loop(paths: list[str], backbone, config) -> None:
    """What a user would write: librosa per clip, then the network on one spectrogram at a time."""
    import librosa
    import torch

    f = config.features
    for p in paths:
        y, _ = librosa.load(p, sr=config.audio.sr, duration=config.audio.duration)
        y = librosa.util.fix_length(y, size=int(config.audio.sr * config.audio.duration))
        S = librosa.power_to_db(librosa.feature.melspectrogram(
            y=y, sr=config.audio.sr, n_fft=f.n_fft, hop_length=f.hop_length, n_mels=f.n_mels, fmin=f.fmin,
            fmax=f.fmax))
        x = torch.from_numpy((S - S.mean()) / (S.std() + 1e-5))[None, None].float()
        with torch.no_grad():
            h = backbone.net.forward_stem(x)
            for block in backbone.blocks:
                h = block(h)
            backbone.net.forward_head(h)


def _crema_sized_cache(tmp: Path, config, backbone):
    """A cache holding 7,442 entries (empty files, random vectors); returns the cached-run callable."""
    import numpy as np
    import pandas as pd

    from qser_core.features.cache import EmbeddingCache, cache_folder, identities
    from qser_core.features.embeddings import extract_embeddings

    many = tmp / "many"
    many.mkdir()
    fake = []
    for i in range(N_CREMA):
        p = many / f"{1001 + i // 82}_{i:04d}.wav"
        p.touch()
        fake.append(str(p))
    vectors = np.random.default_rng(0).standard_normal((N_CREMA, backbone.dim)).astype(np.float32)
    EmbeddingCache(cache_folder(config, cache_dir=tmp / "crema")).add(
        identities(fake), [""] * N_CREMA, vectors, backbone=backbone.name)
    table = pd.DataFrame({"path": fake})
    return lambda: extract_embeddings(table, config, cache_dir=tmp / "crema")

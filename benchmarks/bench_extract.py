"""Row 1, embedding extraction: ``python -m benchmarks --only extract``.

The default backbone (EfficientNet-Lite0) over 3-second clips through ``extract_embeddings``
(threaded decoding overlapped with the batched front end and CNN), in clips/s, against the
per-clip librosa + network loop a user would write (target >= 40 clips/s); then a cached re-run
over a CREMA-D-sized cache index (7,442 entries, target < 2 s) against extracting those clips
afresh at the measured rate; then where a batch's time goes (decode, log-mel, network, cache
write: docs/performance.md "Extraction"); then the log-mel front end's first call in a fresh
interpreter (target <= 8 s: it must import neither librosa nor numba, whose JIT would take ~20 s).

Clips: EmoDB (``../shared/data/emodb/audio``) where present, else the synthetic demo corpus.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
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
    stages = _stages(paths[:32], backbone, config, tmp, repeat=repeat)
    return [extraction, rerun, stages, _cold_log_mel(repeat)]


def _stages(paths: list[str], backbone, config, tmp: Path, *, repeat: int) -> dict:
    """Milliseconds per clip of each stage of one batch, run one after another (no overlap), alternated."""
    import numpy as np
    import torch

    from qser_core.data.audio import load_batch
    from qser_core.features.cache import EmbeddingCache, content_hash

    a = config.audio
    waves = torch.from_numpy(load_batch(paths, sr=a.sr, duration=a.duration, top_db=a.top_db, n_jobs=1))
    vectors = backbone.embed(waves[:2]).numpy().repeat(len(paths) // 2 + 1, axis=0)[:len(paths)]
    net, runs = backbone._inference_net(), iter(range(10**6))

    def network():
        with torch.inference_mode():
            backbone._trainable(net, backbone._frozen(net, waves, 0), 0)

    def spectrogram():
        with torch.inference_mode():
            backbone.spectrogram(waves)

    steps = {
        "decode, resample, trim (one thread)": lambda: load_batch(paths, sr=a.sr, duration=a.duration,
                                                                   top_db=a.top_db, n_jobs=1),
        "content hash": lambda: [content_hash(p) for p in paths],
        "log-mel and standardisation": spectrogram,
        "network (stem, 16 blocks, head, pooling)": lambda: (network(), None)[1],
        "cache write (chunk and index)": lambda: EmbeddingCache(tmp / f"stage{next(runs)}").add(
            [str(i) for i in range(len(paths))], [""] * len(paths), np.asarray(vectors), backbone=backbone.name),
    }
    times = {name: [] for name in steps}
    for _ in range(max(repeat, 1)):
        for name, fn in steps.items():  # alternated, so load changes hit every stage alike
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    ms = {name: 1000 * median(t) / len(paths) for name, t in times.items()}
    total = sum(ms.values())
    log("extract stages (ms/clip): " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()))
    return row(
        "extraction stages, ms per clip (batch of 32, serial)", value=total, unit="ms/clip",
        stages={k: round(v, 2) for k, v in ms.items()}, shares={k: round(v / total, 3) for k, v in ms.items()},
        clips=len(paths), repeats=max(repeat, 1),
    )


def _cold_log_mel(repeat: int) -> dict:
    """The front end's first call in a fresh interpreter, against a bare ``import numpy, torch``."""
    code = "import numpy as np; from qser_core.features.logmel import log_mel; log_mel(np.zeros((2, 48000), np.float32))"
    bare = "import numpy, torch"

    def fresh(source: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", source], check=True, capture_output=True)
        return time.perf_counter() - start

    ours, base = [], []
    for _ in range(max(repeat, 1)):  # alternated
        ours.append(fresh(code))
        base.append(fresh(bare))
    log(f"extract: log-mel cold {median(ours):.2f} s (bare numpy+torch import {median(base):.2f} s)")
    return row(
        "log-mel first call, fresh interpreter", value=median(ours), unit="s",
        reference="python -c 'import numpy, torch'", reference_value=median(base), ratio=median(base) / median(ours),
        target=("<=", 8, "value"), repeats=len(ours), seconds=ours,
        note="no librosa or numba import (the filter bank is computed in qser_core.features.logmel)",
    )


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

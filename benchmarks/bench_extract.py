"""Embedding extraction speed: ``python benchmarks/bench_extract.py [--clips 300]``.

Prints one table: clips/s of the default backbone (efficientnet-lite0) over ~300
3-second clips through ``extract_embeddings`` (threaded decoding overlapped with the
batched front end and CNN), its parts alone (decoding, CNN), the per-clip
librosa + CNN loop it replaces, and the cached second run, both over the same clips
and over a synthesised CREMA-D-sized cache index (7,442 entries).

Clips: EmoDB (``../shared/data/emodb/audio``) where present, else the synthetic demo
corpus (``qser_core.data.demo.demo_corpus_dir()``, generated on first use). Timings on a
shared 2-core machine are noisy: each row is the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import best, clips  # also puts the project root on sys.path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300, help="clips to embed (default 300)")
    parser.add_argument("--baseline-clips", type=int, default=40, help="clips for the slow per-clip loop")
    parser.add_argument("--repeat", type=int, default=2, help="runs per row; the best is kept")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="qser-bench-extract-"))
    os.environ.setdefault("QSER_HOME", str(tmp / "home"))

    import librosa
    import numpy as np
    import pandas as pd
    import torch

    from qser_core.data.audio import audio_kwargs, load_batch
    from qser_core.features.backbones import get_backbone
    from qser_core.config import QserConfig
    from qser_core.features.embeddings import EmbeddingCache, _identities, cache_folder, extract_embeddings

    paths = clips(args.clips)
    n = len(paths)
    table = pd.DataFrame({"path": paths})
    config = QserConfig()
    rows: list[tuple[str, int, float]] = []

    start = time.perf_counter()
    backbone = get_backbone(config.embedding.backbone, features=config.features)
    backbone.embed(torch.zeros(2, 48000))  # first call builds the folded inference copy
    print(f"backbone load + warm-up: {time.perf_counter() - start:.2f} s; torch threads: {torch.get_num_threads()}",
          flush=True)

    runs = iter(range(10**6))
    fresh = lambda: extract_embeddings(table, config, cache_dir=tmp / f"cache{next(runs)}")  # noqa: E731
    rows.append(("extract_embeddings, empty cache (decode || front end + CNN)", n, best(fresh, args.repeat)))

    waves = load_batch(paths, **audio_kwargs(config.audio), n_jobs=2)
    rows.append(("  part: decoding alone (load_batch, 2 threads)", n,
                 best(lambda: load_batch(paths, **audio_kwargs(config.audio), n_jobs=2), args.repeat)))

    def cnn_only():
        for i in range(0, n, config.embedding.batch_size):
            backbone.embed(torch.from_numpy(waves[i:i + config.embedding.batch_size]))

    rows.append(("  part: log-mel + CNN alone (batches of 32)", n, best(cnn_only, args.repeat)))

    base = paths[: args.baseline_clips]

    def per_clip_loop():
        f = config.features
        for p in base:
            y, _ = librosa.load(p, sr=16000, duration=3.0)
            y = librosa.util.fix_length(y, size=48000)
            S = librosa.power_to_db(librosa.feature.melspectrogram(
                y=y, sr=16000, n_fft=f.n_fft, hop_length=f.hop_length, n_mels=f.n_mels, fmin=f.fmin, fmax=f.fmax))
            x = torch.from_numpy((S - S.mean()) / (S.std() + 1e-5))[None, None].float()
            with torch.no_grad():
                h = backbone.net.forward_stem(x)
                for block in backbone.blocks:
                    h = block(h)
                backbone.net.forward_head(h)

    rows.append(("per-clip librosa + CNN loop (baseline)", len(base), best(per_clip_loop, 1)))

    cached_dir = tmp / "cache-warm"
    extract_embeddings(table, config, cache_dir=cached_dir)
    rows.append(("cached second run, same clips", n,
                 best(lambda: extract_embeddings(table, config, cache_dir=cached_dir), args.repeat)))

    # CREMA-D-sized cache: 7,442 (empty) files and a synthesised index of random rows.
    many = tmp / "many"
    many.mkdir()
    fake = []
    for i in range(7442):
        p = many / f"{1001 + i // 82}_{i:04d}.wav"
        p.touch()
        fake.append(str(p))
    fake_table = pd.DataFrame({"path": fake})
    folder = cache_folder(config, cache_dir=tmp / "cache-crema")
    EmbeddingCache(folder).add(_identities(fake), [""] * len(fake),
                               np.random.default_rng(0).standard_normal((len(fake), backbone.dim)).astype(np.float32),
                               backbone=backbone.name)
    rows.append(("cached run, 7,442 synthesised entries (CREMA-D size)", len(fake),
                 best(lambda: extract_embeddings(fake_table, config, cache_dir=tmp / "cache-crema"), args.repeat)))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'clips':>6}  {'seconds':>8}  {'clips/s':>9}")
    for what, count, seconds in rows:
        print(f"{what:<{width}}  {count:>6}  {seconds:>8.2f}  {count / seconds:>9.1f}")
    speedup = (rows[0][1] / rows[0][2]) / (rows[3][1] / rows[3][2])
    print(f"\nbatched pipeline vs per-clip loop: {speedup:.1f}x; target >= 40 clips/s, cached 7,442 < 2 s")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

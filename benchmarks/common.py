"""What the benchmarks share: which clips they time, and best-of-N timing."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EMODB = ROOT.parent / "shared" / "data" / "emodb" / "audio"


def clips(n: int) -> list[str]:
    """Up to ``n`` real-speech clips (EmoDB beside the project), else clips of the synthetic demo corpus."""
    if EMODB.is_dir():
        files, source = sorted(str(p) for p in EMODB.iterdir() if p.suffix in (".flac", ".wav")), "EmoDB"
    else:
        from qser_core.data.demo import demo_corpus_dir

        files, source = sorted(str(p) for p in demo_corpus_dir().glob("*.wav")), "demo corpus"
    print(f"clips: {min(n, len(files))} from {source}, cut/padded to 3 s at 16 kHz", flush=True)
    return files[:n]


def best(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` runs of ``fn``, in seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)

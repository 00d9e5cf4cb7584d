"""What every benchmark row shares: clip choice, timing (median of repetitions), the row record and its verdict.

A row is one JSON-ready dict (see :func:`row`): what was measured, the reference measured in the same run,
their ratio (always "how many times better than the reference": > 1 means ours wins), the target and the
verdict. Row modules expose ``run(quick: bool) -> list[dict]``; ``python -m benchmarks`` collects them.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb" / "audio"

#: The keys every row has, in the order the JSON lists them (tests/test_benchmarks.py checks them).
ROW_KEYS = ("name", "value", "unit", "reference", "reference_value", "ratio", "target", "verdict")
VERDICTS = ("pass", "fail", "info", "skipped", "error")


def log(message: str) -> None:
    """Progress on stderr (stdout is kept for the results table)."""
    print(message, file=sys.stderr, flush=True)


def clips(n: int) -> list[str]:
    """Up to ``n`` real-speech clips (EmoDB beside the project), else clips of the synthetic demo corpus."""
    if EMODB.is_dir():
        files, source = sorted(str(p) for p in EMODB.iterdir() if p.suffix in (".flac", ".wav")), "EmoDB"
    else:
        from qser_core.data.demo import demo_corpus_dir

        files, source = sorted(str(p) for p in demo_corpus_dir().glob("*.wav")), "demo corpus"
    log(f"clips: {min(n, len(files))} from {source}, cut/padded to 3 s at 16 kHz")
    return files[:n]


def timings(fn: Callable[[], Any], *, repeat: int, warmup: int = 0) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``fn`` (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def verdict(value: float | None, target: tuple[str, float] | None) -> str:
    """``pass``/``fail`` of ``value`` against ``(op, bound)`` (op ``">="`` or ``"<="``); ``info`` without one."""
    if target is None:
        return "info"
    if value is None:
        return "skipped"
    op, bound = target
    return "pass" if (value >= bound if op == ">=" else value <= bound) else "fail"


def row(name: str, *, value: float | None, unit: str, reference: str | None = None,
        reference_value: float | None = None, ratio: float | None = None,
        target: tuple[str, float, str] | None = None, **details: Any) -> dict[str, Any]:
    """One result row.

    Parameters
    ----------
    name : str
        What was measured.
    value : float or None
        The median measurement (None when skipped).
    unit : str
        Unit of ``value`` and ``reference_value``.
    reference : str, optional
        What it was compared with, measured in the same run.
    reference_value : float, optional
    ratio : float, optional
        How many times better than the reference (> 1: ours wins; seconds: ref / ours, rates: ours / ref).
    target : (str, float, str), optional
        ``(op, bound, on)``: ``on`` is ``"value"`` or ``"ratio"``; e.g. ``(">=", 5, "ratio")``.
    **details
        Anything else worth keeping (repetitions, samples, extrapolation, notes).
    """
    checked = None if target is None else (ratio if target[2] == "ratio" else value)
    text = None if target is None else f"{target[2]} {target[0]} {target[1]:g}" + (
        f" {unit}" if target[2] == "value" else "x")
    out = {"name": name, "value": _round(value), "unit": unit, "reference": reference,
           "reference_value": _round(reference_value), "ratio": _round(ratio), "target": text,
           "verdict": verdict(checked, None if target is None else target[:2])}
    return {**out, **details}


def skipped(name: str, why: str, *, unit: str = "", **details: Any) -> dict[str, Any]:
    """A row that could not be measured here, saying why."""
    return {**row(name, value=None, unit=unit), "verdict": "skipped", "why": why, **details}


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")

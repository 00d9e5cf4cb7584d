"""CLI response time: ``python -m benchmarks --only cli``.

A researcher runs ``qser`` all day, so help and argument errors must answer at once (target <= 0.5 s: the
parser tree imports nothing heavy, each command imports its stage when it runs) and a prediction from a
saved model must start quickly (``qser predict CLIP --model DIR`` cold, target <= 3 s). Each is a fresh
interpreter, timed against ``python -c pass`` started the same way: the floor Python itself sets here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, clips, log, median, row

#: (row name, qser arguments, target seconds); arguments may name {clip} and {model}.
COMMANDS = (
    ("qser --help", ["--help"], 0.5),
    ("qser evaluate --help", ["evaluate", "--help"], 0.5),
    ("qser with a mistyped argument (usage error)", ["evaluate", "--qubtis", "4"], 0.5),
    ("qser predict CLIP --model DIR, cold", ["predict", "{clip}", "--model", "{model}"], 3.0),
)


def _seconds(args: list[str], repeat: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return times


def run(quick: bool) -> list[dict]:
    """One row per command: median seconds of fresh starts against ``python -c pass``."""
    from qser_core.config import QserConfig
    from qser_core.experiments.protocols.single import train_model
    from qser_core.progress import RunContext

    repeat = 3 if quick else 7
    floor = median(_seconds(["-c", "pass"], repeat))
    with tempfile.TemporaryDirectory(prefix="qser-bench-cli-") as tmp:
        config = QserConfig().with_overrides(["head.kind=logreg"])
        model = train_model(config, context=RunContext(track=False)).save(Path(tmp) / "model")
        fill = {"{clip}": clips(1)[0], "{model}": str(model)}
        rows = []
        for name, args, target in COMMANDS:
            argv = ["-m", "qser_core.cli", *(fill.get(a, a) for a in args)]
            value = median(_seconds(argv, repeat))
            log(f"cli: {name}: {value:.2f} s (python -c pass {floor:.2f} s)")
            rows.append(row(name, value=value, unit="s", reference="python -c pass, same interpreter",
                            reference_value=floor, ratio=floor / value, target=("<=", target, "value"),
                            repeats=repeat))
    return rows

"""CLI response time: ``python -m benchmarks --only cli``.

A researcher runs ``qser`` all day, so help and argument errors must answer at once (target <= 0.5 s: the
parser tree imports nothing heavy, each command imports its stage when it runs) and a prediction from a
saved model must start quickly (``qser predict CLIP --model DIR`` cold, target <= 3 s). Each is a fresh
interpreter, timed against ``python -c pass`` started the same way (the floor Python itself sets here), the cold
prediction against the imports every saved model needs (torch and scikit-learn: its floor).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, clips, log, median, row

#: (row name, qser arguments, target seconds, reference); arguments may name {clip} and {model}.
COMMANDS = (
    ("qser --help", ["--help"], 0.5, "pass"),
    ("qser evaluate --help", ["evaluate", "--help"], 0.5, "pass"),
    ("qser with a mistyped argument (usage error)", ["evaluate", "--qubtis", "4"], 0.5, "pass"),
    ("qser predict CLIP --model DIR, cold", ["predict", "{clip}", "--model", "{model}"], 3.0, "libraries"),
)
#: The references, each a fresh interpreter started the same way: Python itself, and the imports any saved model
#: needs (its network is torch, its head and reduction scikit-learn estimators): the floor of a cold prediction,
#: which also says how fast this machine was during the run (it moved by 1.8x within one day on this VM).
REFERENCES = {"pass": ("python -c pass, same interpreter", "pass"),
              "libraries": ("python -c 'import torch, sklearn.base', same interpreter", "import torch, sklearn.base")}


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
    floors = {key: median(_seconds(["-c", code], repeat)) for key, (_, code) in REFERENCES.items()}
    with tempfile.TemporaryDirectory(prefix="qser-bench-cli-") as tmp:
        config = QserConfig().with_overrides(["head.kind=logreg"])
        model = train_model(config, context=RunContext(track=False)).save(Path(tmp) / "model")
        fill = {"{clip}": clips(1)[0], "{model}": str(model)}
        rows = []
        for name, args, target, ref in COMMANDS:
            argv = ["-m", "qser_core.cli", *(fill.get(a, a) for a in args)]
            value, floor = median(_seconds(argv, repeat)), floors[ref]
            log(f"cli: {name}: {value:.2f} s ({REFERENCES[ref][0]}: {floor:.2f} s)")
            rows.append(row(name, value=value, unit="s", reference=REFERENCES[ref][0],
                            reference_value=floor, ratio=floor / value, target=("<=", target, "value"),
                            repeats=repeat))
    return rows

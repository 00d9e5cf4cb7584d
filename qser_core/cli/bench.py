"""``qser bench [--quick] [--only NAME ...]``: the benchmarks of a source checkout (``python -m benchmarks``).

The benchmarks live in the repository's ``benchmarks/`` folder, not in the installed package: the
command finds the checkout this ``qser_core`` was installed from (editable install) and runs them there
in a fresh interpreter. Never a ``benchmarks/`` package of the current folder: that could be any code,
and it would time another version of the lab. Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from qser_core.cli.common import add_command
from qser_core.errors import DataError


def checkout_root() -> Path:
    """The source checkout holding ``benchmarks/`` beside this ``qser_core`` (an editable install)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "benchmarks" / "__main__.py").is_file():
        return root
    raise DataError(
        "qser bench runs the benchmarks/ folder of the source checkout qser_core was installed from, and there "
        f"is none beside the installed qser_core ({root}); clone the QSER Lab repository, `pip install -e .` "
        "there and run `qser bench`")


def _cmd_bench(args: argparse.Namespace) -> int:
    root = checkout_root()
    command = [sys.executable, "-m", "benchmarks", *(["--quick"] if args.quick else []),
               *(["--list"] if args.list else []),
               *(["--only", *args.only] if args.only else []), *(["--json"] if args.json else []),
               *(["--out", args.out] if args.out else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    print(f"qser: running {' '.join(command[1:])} in {root}", file=sys.stderr)
    return subprocess.run(command, cwd=root, env=env).returncode


def register(sub) -> None:
    """Add ``qser bench``."""
    p = add_command(sub, "bench", _cmd_bench, "run the benchmarks of this source checkout; results to "
                    "benchmarks/results/ (exit 1 if a target fails)")
    p.add_argument("--quick", action="store_true", help="time a fraction of each row (under a minute)")
    # the row names belong to the checkout's benchmarks (its parser checks them: exit 2 on an unknown one)
    p.add_argument("--only", nargs="+", metavar="NAME", help="rows to run (extract, simulator, protocol, …; "
                   "`python -m benchmarks --help` lists them)")
    p.add_argument("--list", action="store_true", help="list the rows and what they measure; run nothing")
    p.add_argument("--out", metavar="DIR", help="folder for the results JSON (default: benchmarks/results/)")

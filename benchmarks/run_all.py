"""Run every benchmark in this folder and print their tables: ``python benchmarks/run_all.py``.

Each ``bench_*.py`` is a standalone script that prints one table; run one alone with
``python benchmarks/bench_extract.py``. Timings depend on the machine: the targets in the
issues are for the 2-core CPU machine the project is developed on.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    failed = 0
    for script in scripts:
        print(f"\n## {script.stem}", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        failed += result.returncode != 0
        print(f"({script.name}: {time.perf_counter() - start:.0f} s, exit {result.returncode})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run the benchmarks and keep the results as data: ``python -m benchmarks [--quick] [--only NAME ...]``.

Every run writes ``benchmarks/results/<date>-<host>.json`` (``…-quick.json`` with ``--quick``): the
machine (CPU model, cores, memory, load, torch threads), package versions, git commit, and the rows
(:func:`benchmarks.common.row`). A row module that is missing (another helper's, not merged yet) gives
a skipped row; one that raises gives an ``error`` row with the message, and the others still run.
Exit status: 0 when no row failed or errored, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, log, skipped
from benchmarks.machine import describe

#: Row modules in the order of the issue's table, with what they measure; a missing module gives a skipped row.
MODULES = {
    "extract": ("benchmarks.bench_extract", "embedding extraction"),
    "simulator": ("benchmarks.bench_simulator", "PQC training epoch"),
    "protocol": ("benchmarks.bench_protocol", "whole protocol, 5 folds × 3 seeds"),
    "hardware": ("benchmarks.bench_hardware", "noisy evaluation on a fake 127-qubit backend"),
    "predict": ("benchmarks.bench_predict", "live prediction"),
    "cli": ("benchmarks.bench_cli", "qser help, usage errors and a cold prediction"),
    "dashboard": ("benchmarks.bench_dashboard", "dashboard cold start"),
    "hybrid": ("benchmarks.bench_hybrid", "hybrid model training step"),
    "sweep": ("benchmarks.bench_sweep", "sweep scaling, 1 vs 2 Ray workers"),
    "accuracy": ("benchmarks.accuracy", "accuracy baselines"),
}
#: What a plain run times: every row but the accuracy baselines, which train every head on real speech over
#: 5 folds × 3 seeds (an hour on 2 cores, beyond the 10-minute budget); ``--only accuracy`` or
#: ``python -m benchmarks.accuracy`` runs them.
DEFAULT = [key for key in MODULES if key != "accuracy"]
RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        listing = {key: {"module": name, "measures": title} for key, (name, title) in MODULES.items()}
        print(json.dumps(listing) if args.json else "\n".join(f"{k:<10} {v['measures']}" for k, v in listing.items()))
        return 0
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    module_seconds: dict[str, float] = {}  # what each row costs: the budget is 10 minutes, 1 with --quick
    for key in args.only or DEFAULT:
        start = time.perf_counter()
        rows += run_module(key, quick=args.quick)
        module_seconds[key] = round(time.perf_counter() - start, 1)
    report = {**describe(), "quick": args.quick, "seconds": round(time.perf_counter() - started, 1),
              "module_seconds": module_seconds, "rows": rows}
    report["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    path = write(report, Path(args.out) if args.out else RESULTS)
    if args.json:
        print(json.dumps({**report, "path": str(path)}))
    else:
        print(table(report))
        costs = ", ".join(f"{k} {v:g}" for k, v in report["module_seconds"].items())
        print(f"\n{report['seconds']:g} s in all ({costs}); results: {path}")
    return 1 if any(r["verdict"] in ("fail", "error") for r in rows) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="time a fraction of each row (extrapolated where said), under a minute in all")
    parser.add_argument("--only", nargs="+", choices=list(MODULES), metavar="NAME",
                        help=f"run only these rows ({', '.join(MODULES)}; default: all but accuracy)")
    parser.add_argument("--list", action="store_true", help="list the rows and what they measure; run nothing")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    parser.add_argument("--out", metavar="DIR", help=f"folder for the results JSON (default {RESULTS})")
    return parser


def run_module(key: str, *, quick: bool) -> list[dict[str, Any]]:
    """The rows of one module; a skipped row when it is absent, an ``error`` row when it raises."""
    name, title = MODULES[key]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return [skipped(title, f"not available: {name} is not in this checkout", module=key)]
    log(f"== {key}")
    try:
        rows = module.run(quick)
    except Exception as exc:  # one broken row must not lose the others' measurements
        log(f"{key}: {type(exc).__name__}: {exc}")
        return [{**skipped(title, f"{type(exc).__name__}: {exc}"), "verdict": "error", "module": key}]
    return [{**r, "module": key} for r in rows]


def write(report: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if report["quick"] else ""
    path = folder / f"{report['date'][:10]}-{report['machine']['host']}{suffix}.json"
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return path


def table(report: dict[str, Any]) -> str:
    """The rows as a plain-text table."""
    lines = [f"{'row':<58} {'value':>12} {'reference':>12} {'ratio':>8}  {'target':<22} verdict"]
    for r in report["rows"]:
        value = "" if r["value"] is None else f"{r['value']:g} {r['unit']}"
        ref = "" if r["reference_value"] is None else f"{r['reference_value']:g}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}x"
        lines.append(f"{r['name'][:58]:<58} {value:>12} {ref:>12} {ratio:>8}  {r['target'] or '':<22} {r['verdict']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

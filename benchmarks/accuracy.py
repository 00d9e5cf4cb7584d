"""Accuracy baselines on real speech: ``python -m benchmarks.accuracy [--quick]`` (also ``python -m benchmarks``).

EmoDB (beside the project), the default front end (EfficientNet-Lite0, 128 mel bands),
speaker-disjoint cross-validation (5 folds × 3 seeds), every head on identical inputs
(:func:`qser_core.experiments.protocols.compare.compare_heads`) with the same tuning budget
(:mod:`qser_core.experiments.tuning`) at k = 4 and 8 components:

- mean UA with its 95% interval for logreg, mlp, mlp-matched and quantum;
- the paired comparison quantum vs mlp-matched: the mean of the per-task UA differences with its
  95% interval (15 fold × seed tasks), and the paired bootstrap / McNemar on the first seed's clips;
- the hybrid end-to-end model against the frozen-backbone PQC head on the single split (8 qubits).

Targets, so that the PQC is judged against an honest classical baseline: logreg UA >= 0.51 at
8 components; quantum within 5 points of the classical head of similar parameter count
(mlp-matched); hybrid >= frozen PQC. What the latest run says: docs/accuracy.md.
``--quick`` runs 5 folds × 1 seed at k = 4 for logreg and mlp-matched only (the wiring, not the numbers).
Results go to ``benchmarks/results/accuracy-<date>.json``; a table is printed. MLflow tracking is off.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import EMODB, ROOT, log, row, skipped

HEADS = ("logreg", "mlp", "mlp-matched", "quantum")
COMPONENTS = (4, 8)
SEEDS = (0, 1, 2)


def _config(k: int, seeds, *extra: str):
    from qser_core.config import QserConfig

    return QserConfig().with_overrides(["data.dataset=emodb", f"data.data_dir={EMODB}", "data.n_folds=5",
                                        f"reduce.n_qubits={k}", "train.seeds=" + ",".join(map(str, seeds)), *extra])


def run(quick: bool, *, checkpoint=None, previous: list[dict] | None = None) -> list[dict]:
    """Rows of mean UA per head and k, the paired test and the hybrid comparison.

    ``checkpoint(rows)`` is called after each group of rows (one k; the hybrid), so an hour of training is
    never lost to a later failure (the hybrid row, which trains the backbone, becomes an ``error`` row if it
    raises). ``previous``: the rows of an interrupted report (``--resume``); a group whose rows are all there
    without error is kept as it is, the rest runs.
    """
    if not EMODB.is_dir():
        return [skipped("accuracy baselines (EmoDB)", f"EmoDB is not at {EMODB}")]
    from qser_core.experiments.protocols.compare import compare_heads
    from qser_core.progress import RunContext
    from qser_core.experiments.pipeline import prepare

    heads, components, seeds = (("logreg", "mlp-matched"), (4,), (0,)) if quick else (HEADS, COMPONENTS, SEEDS)
    done = _finished_groups(previous or [])
    features = None
    rows: list[dict] = []
    for k in components:
        if f"k={k}" in done:
            rows += done[f"k={k}"]
            continue
        features = features or prepare(_config(8, seeds), progress=None)
        start = time.perf_counter()
        log(f"accuracy: k={k}, heads {', '.join(heads)}, {len(seeds)} seed(s)")
        comparison = compare_heads(_config(k, seeds), heads, features=features, context=RunContext(track=False))
        group = _head_rows(k, comparison.summary(), time.perf_counter() - start)
        if "quantum" in comparison.results and "mlp-matched" in comparison.results:
            group.append(_paired_row(k, comparison))
        rows += group
        if checkpoint is not None:
            checkpoint(rows)
    rows += done.get("hybrid") or [_hybrid_or_error(quick)]
    return rows


def _group(name: str) -> str:
    """``hybrid`` or ``k=N``: the unit :func:`run` computes at once, read from a row's name."""
    if name.startswith("hybrid"):
        return "hybrid"
    found = re.search(r"k=\d+", name)
    return found.group(0) if found else ""


def _finished_groups(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows by group, only the groups none of whose rows errored."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_group(r["name"]), []).append(r)
    return {g: rs for g, rs in groups.items() if g and all(r["verdict"] != "error" for r in rs)}


def _hybrid_or_error(quick: bool) -> dict:
    try:
        return _hybrid_row(quick)
    except Exception as exc:  # noqa: BLE001 - keep the head rows; say what broke
        log(f"accuracy: hybrid row: {type(exc).__name__}: {exc}")
        return {**skipped("hybrid − frozen PQC UA (single split, k=8)", f"{type(exc).__name__}: {exc}"),
                "verdict": "error"}


def _head_rows(k: int, summary: dict, seconds: float) -> list[dict]:
    out = []
    best_classical = max((r["ua"] for kind, r in summary["results"].items() if kind != "quantum"), default=None)
    for kind, result in summary["results"].items():
        target = (">=", 0.51, "value") if kind == "logreg" and k == 8 else None
        out.append(row(f"EmoDB UA, {kind}, k={k}", value=result["ua"], unit="UA", target=target,
                       ua_ci95=result["ua_ci95"], wa=result["wa"], macro_f1=result["macro_f1"],
                       params=result["params"], tuning=result.get("tuning"), folds=result["folds"],
                       seeds=result["seeds"], best_classical_ua=best_classical, seconds=round(seconds, 1)))
    return out


def _paired_row(k: int, comparison) -> dict:
    from qser_core.experiments.metrics import mean_ci95

    q, m = comparison.results["quantum"], comparison.results["mlp-matched"]
    by_task = {(r.fold, r.seed): r.metrics["ua"] for r in m.results}
    diffs = [r.metrics["ua"] - by_task[(r.fold, r.seed)] for r in q.results if (r.fold, r.seed) in by_task]
    mean, low, high = mean_ci95(diffs, bounds=(-1.0, 1.0))  # differences of UA lie in [-1, 1]
    paired = comparison.paired.get("mlp-matched", {})
    return row(f"quantum − mlp-matched UA, k={k} (paired over fold × seed)", value=mean, unit="UA points",
               reference="mlp-matched (same folds, seeds, reducer)", reference_value=float(np.mean(list(by_task.values()))),
               target=(">=", -0.05, "value"), ci95=[low, high], n_tasks=len(diffs),
               bootstrap=paired.get("bootstrap"), mcnemar=paired.get("mcnemar"))


def _hybrid_row(quick: bool) -> dict:
    if quick:
        return skipped("hybrid − frozen PQC UA (single split, k=8)", "not run with --quick (trains the backbone's last block)")
    from qser_core.experiments.protocols.hybrid import train_hybrid
    from qser_core.progress import RunContext

    start = time.perf_counter()
    result = train_hybrid(_config(8, (0,)), context=RunContext(track=False))
    hybrid, frozen = result.metrics["ua"], result.baseline_metrics["ua"]
    return row("hybrid − frozen PQC UA (single split, k=8)", value=hybrid - frozen, unit="UA points",
               reference="frozen-backbone PQC head, same split/seed/reducer", reference_value=frozen,
               target=(">=", 0.0, "value"), hybrid_ua=hybrid, frozen_ua=frozen, hybrid_params=result.n_params,
               frozen_params=result.baseline_params, seconds=round(time.perf_counter() - start, 1))


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table."""
    lines = [f"{'row':60s} {'value':>8s} {'95% interval':>17s} {'verdict':>8s}"]
    for r in rows:
        ci = r.get("ua_ci95") or r.get("ci95")
        ci_text = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        value = "" if r["value"] is None else f"{r['value']:.3f}"
        lines.append(f"{r['name'][:60]:60s} {value:>8s} {ci_text:>17s} {r['verdict']:>8s}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 folds × 1 seed, k=4, logreg and mlp-matched only")
    parser.add_argument("--resume", type=Path, metavar="JSON",
                        help="an interrupted or partly failed report: keep its finished groups, run the rest into it")
    args = parser.parse_args(argv)
    started, stamp, previous = time.perf_counter(), datetime.now(timezone.utc), None
    out = ROOT / "benchmarks" / "results" / f"accuracy-{stamp:%Y%m%d-%H%M}{'-quick' if args.quick else ''}.json"
    earlier_seconds = 0.0
    if args.resume is not None:
        old = json.loads(args.resume.read_text(encoding="utf-8"))
        if bool(old.get("quick")) != args.quick:
            parser.error(f"{args.resume} is {'a' if old.get('quick') else 'not a'} --quick report; resume it the same way")
        out, previous, earlier_seconds = args.resume, old["rows"], float(old.get("seconds", 0.0))
        stamp = datetime.fromisoformat(old["date"])

    def write(rows: list[dict], *, partial: bool) -> None:
        report: dict[str, Any] = {"date": stamp.isoformat(timespec="seconds"), "quick": args.quick,
                                  "command": "python -m benchmarks.accuracy" + (" --quick" if args.quick else ""),
                                  "seconds": round(earlier_seconds + time.perf_counter() - started, 1), "rows": rows}
        if args.resume is not None:
            report["resumed"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if partial:
            report["partial"] = True  # readme_table never quotes a partial report
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")

    rows = run(args.quick, checkpoint=lambda done: write(done, partial=True), previous=previous)
    write(rows, partial=False)
    print(table(rows))
    print(f"\nresults: {out}")
    return 1 if any(r["verdict"] in ("fail", "error") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

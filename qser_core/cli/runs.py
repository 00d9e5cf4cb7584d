"""``qser runs`` and ``qser compare``: recorded runs."""

from __future__ import annotations

import argparse
import json

from qser_core.cli.common import add_command, emit


def _cmd_runs(args: argparse.Namespace) -> int:
    from qser_core.tracking.reader import list_runs

    runs = list_runs(max_results=args.limit)
    emit(args, {"runs": json.loads(runs.to_json(orient="records", date_format="iso"))},
          runs.to_string(index=False) if len(runs) else "no runs recorded yet")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from qser_core.experiments.compare import compare_runs

    result = compare_runs(args.run_a, args.run_b, metric=args.metric)
    mc, bs = result["mcnemar"], result["bootstrap"]
    text = (f"{result['n_clips']} clips, seed {result['seed']}\n"
            f"McNemar ({mc['method']}): A right/B wrong {mc['b']}, A wrong/B right {mc['c']}, p = {mc['p_value']:.3g}\n"
            f"{args.metric} difference A - B: {bs['diff']:+.3f}, 95% bootstrap interval "
            f"[{bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f}], p = {bs['p_value']:.3g}")
    emit(args, result, text)
    return 0


def register(sub) -> None:
    """Add ``qser runs`` and ``qser compare``."""
    p = add_command(sub, "runs", _cmd_runs, "list recorded runs (MLflow)")
    p.add_argument("--limit", type=int, default=200, help="most recent runs to list")

    p = add_command(sub, "compare", _cmd_compare, "paired significance tests between two recorded runs on the same clips")
    p.add_argument("run_a", metavar="RUN_A", help="run id (see `qser runs`)")
    p.add_argument("run_b", metavar="RUN_B", help="run id scored on the same test clips")
    p.add_argument("--metric", choices=["ua", "wa", "macro_f1"], default="ua", help="metric of the bootstrap difference")

"""``qser runs`` and ``qser compare``: recorded runs."""

from __future__ import annotations

import argparse
import json

from qser_core.cli.common import add_command, emit


def _cmd_runs(args: argparse.Namespace) -> int:
    from qser_core.tracking.reader import list_runs

    runs = list_runs(max_results=args.limit)
    shown = runs.drop(columns=["run_name", "config_digest", "parent_run_id"]).assign(run_id=runs["run_id"].str[:8])
    emit(args, {"runs": json.loads(runs.to_json(orient="records", date_format="iso"))},
         shown.to_string(index=False) if len(runs) else "no runs recorded yet")
    return 0


def _cmd_runs_show(args: argparse.Namespace) -> int:
    from qser_core.tracking.reader import load_run

    run = load_run(args.run)
    result = {k: run[k] for k in ("run_id", "run_name", "status", "qser_status", "reason", "metrics", "tags",
                                  "artifacts", "children")}
    result["config"] = run["config"].to_dict() if run["config"] is not None else None
    text = "\n".join([f"run {run['run_id']} ({run['run_name']}): {run['status']}, {run['qser_status']}"
                      + (f" ({run['reason']})" if run["reason"] else ""),
                      *(f"{k:>24}: {v:.4g}" for k, v in sorted(run["metrics"].items()) if "/" not in k),
                      f"artefacts: {', '.join(run['artifacts'])}"])
    emit(args, result, text)
    return 0


def _cmd_runs_import(args: argparse.Namespace) -> int:
    from qser_core.tracking.unsaved import import_unsaved

    run_id = import_unsaved(args.path)
    emit(args, {"run_id": run_id, "path": args.path}, f"imported {args.path} into run {run_id}")
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
    p = add_command(sub, "runs", _cmd_runs, "list recorded runs (MLflow); `runs show RUN`, `runs import PATH`")
    p.add_argument("--limit", type=int, default=200, help="most recent runs to list")
    actions = p.add_subparsers(dest="runs_command", metavar="ACTION", required=False)
    q = add_command(actions, "show", _cmd_runs_show, "everything recorded for one run")
    q.add_argument("run", metavar="RUN", help="run id or a unique prefix of it (see `qser runs`)")
    q = add_command(actions, "import", _cmd_runs_import,
                    "write results the store refused (a folder under unsaved-runs/) into the store")
    q.add_argument("path", metavar="PATH", help="the folder qser named when the store refused the results")

    p = add_command(sub, "compare", _cmd_compare, "paired significance tests between two recorded runs on the same clips")
    p.add_argument("run_a", metavar="RUN_A", help="run id or a unique prefix of it (see `qser runs`)")
    p.add_argument("run_b", metavar="RUN_B", help="run id scored on the same test clips")
    p.add_argument("--metric", choices=["ua", "wa", "macro_f1"], default="ua", help="metric of the bootstrap difference")

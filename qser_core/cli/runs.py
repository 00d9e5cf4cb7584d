"""``qser runs [show RUN | import PATH]`` and ``qser compare``: recorded runs (ids or unique prefixes)."""

from __future__ import annotations

import argparse
import json

from qser_core.cli.common import add_command, emit


def _cmd_runs(args: argparse.Namespace) -> int:
    from qser_core.tracking.reader import list_runs

    runs = list_runs(max_results=args.limit)
    emit(args, {"runs": json.loads(runs.to_json(orient="records", date_format="iso"))},
         runs_text(runs) if len(runs) else "no runs recorded yet")
    return 0


#: What the terminal table shows (``--json`` and ``qser runs show RUN`` give every field).
TABLE_COLUMNS = ("run_id", "start_time", "run_type", "qser_status", "dataset", "head", "n_qubits", "n_layers",
                 "ua", "ua_ci95_low", "ua_ci95_high", "wa", "macro_f1", "params")


def runs_text(runs) -> str:
    """The runs as a narrow table: short ids, minutes, metrics to 3 decimals, the 95% interval in one column."""
    table = runs[[c for c in TABLE_COLUMNS if c in runs.columns]].copy()
    table["run_id"] = table["run_id"].str[:8]
    if "start_time" in table:
        table["start_time"] = table["start_time"].astype(str).str[:16]
    if {"ua_ci95_low", "ua_ci95_high"} <= set(table.columns):
        low, high = table.pop("ua_ci95_low"), table.pop("ua_ci95_high")
        ci = [f"[{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else "" for lo, hi in zip(low, high)]
        table.insert(table.columns.get_loc("ua") + 1, "ua_ci95", ci)
    for name in ("ua", "wa", "macro_f1"):
        if name in table:
            table[name] = [f"{v:.3f}" if v == v else "" for v in table[name].astype(float)]
    if "params" in table:  # a count, not a measurement
        table["params"] = [f"{v:.0f}" if v == v else "" for v in table["params"].astype(float)]
    # object dtype first: pandas refuses "" in nullable integer columns (n_layers of classical heads is <NA>)
    table = table.astype(object)
    return table.where(table.notna(), "").to_string(index=False)


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
    from qser_core.experiments.protocols.compare import compare_runs

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

"""``qser sweep``: a grid of configurations × folds × seeds on Ray; ``qser sweep show NAME`` / ``qser sweep list``.

``qser sweep --grid head.kind=logreg,mlp-matched,quantum --grid reduce.n_qubits=2,4,8 --folds 5 --seeds 3 --json``

``--config PATH`` may hold a ``[sweep]`` table of axes beside the config tables (see
:func:`qser_core.experiments.sweeps.runner.read_sweep_toml`); ``--grid`` axes add to it. Exit code 1 when a
configuration failed or the sweep was stopped (the JSON still lists every cell).
"""

from __future__ import annotations

import argparse
import sys

from qser_core.cli.common import TqdmProgress, add_command, dataset_flags, emit, note_synthetic, pipeline_flags
from qser_core.config import QserConfig


def _table(result) -> str:
    frame = result.frame()
    columns = [c for c in (*result.axes, "ua", "ua_low", "ua_high", "params", "p_vs_matched", "status") if c in frame]
    text = frame[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}")
    reason = f"\n{result.reason}" if result.reason and result.status != "finished" else ""
    return f"sweep {result.name} ({result.status}; run {result.run_id}){reason}\n{text}"


def _cmd_sweep(args: argparse.Namespace) -> int:
    from qser_core.experiments.sweeps.runner import parse_grid, read_sweep_toml, run_sweep

    base, grid, file_name = read_sweep_toml(args.config) if args.config else (QserConfig(), {}, None)
    flags = [f"{k}={v}" for k, v in pipeline_flags(args).items() if v is not None]
    config, name = base.with_overrides([*(args.set or []), *flags]), args.name or file_name
    grid.update(parse_grid(args.grid or []))
    note_synthetic(config)
    from qser_core.progress import RunContext

    with TqdmProgress() as progress:
        result = run_sweep(config, grid, name=name, address=args.address, workers=args.workers,
                           context=RunContext(progress=progress))
    emit(args, result.summary(), _table(result))
    return 0 if all(c["status"] == "finished" for c in result.configurations) else 1


def _cmd_show(args: argparse.Namespace) -> int:
    from qser_core.experiments.sweeps.runner import load_sweep

    result = load_sweep(args.name)
    emit(args, result.summary(), result.markdown() if args.markdown else _table(result))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from qser_core.experiments.sweeps.runner import list_sweeps

    frame = list_sweeps()
    rows = [{**r, "start_time": str(r["start_time"])} for r in frame.to_dict(orient="records")]
    emit(args, {"sweeps": rows}, frame.to_string(index=False) if len(frame) else "no sweeps recorded")
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    """``qser sweep show NAME`` and ``qser sweep list`` share the parser of ``qser sweep [flags]``."""
    if args.action == "show":
        if not args.target:
            print("qser sweep show: give the sweep name (see `qser sweep list`)", file=sys.stderr)
            return 2
        args.name = args.target
        return _cmd_show(args)
    if args.action == "list":
        return _cmd_list(args)
    if args.action is not None:
        print(f"qser sweep: unknown action {args.action!r}; use show NAME, list, or flags only to run", file=sys.stderr)
        return 2
    return _cmd_sweep(args)


def register(sub) -> None:
    """Add ``qser sweep`` (run or resume), ``qser sweep show NAME`` and ``qser sweep list``."""
    p = add_command(sub, "sweep", _dispatch,
                    "run a grid of configurations on Ray (show NAME: a recorded sweep; list: all sweeps)")
    p.add_argument("action", nargs="?", choices=("show", "list"), help="show NAME or list; omit to run a sweep")
    p.add_argument("target", nargs="?", metavar="NAME", help="the sweep to show")
    p.add_argument("--grid", action="append", metavar="SECTION.FIELD=V1,V2",
                   help="one grid axis; repeatable (any --set field, e.g. --grid reduce.n_qubits=2,4,8)")
    p.add_argument("--markdown", action="store_true", help="show NAME: print the table as Markdown (UA [95%% interval])")
    p.add_argument("--name", help="sweep name; re-running a name resumes it (default: derived from config and grid)")
    p.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray on this machine)")
    p.add_argument("--workers", type=int, help="local Ray worker processes (default: every core)")
    dataset_flags(p)
    p.add_argument("--epochs", type=int, help="maximum epochs (default: 200, early stopping on validation UA)")
    p.add_argument("--folds", type=int, help="speaker-disjoint folds (default: 5)")
    p.add_argument("--seeds", type=int, help="number of seeds, runs seeds 0..N-1 (default: config train.seeds)")

"""``qser hardware backends|run|curve|status|fetch``: the trained quantum head on IBM devices and their noise.

``qser hardware run --model models/q8 --backend ibm_fez --fake --shots 1024 --recalibrate 100``
simulates the test clips under the device's calibrated noise in one job; without ``--fake`` the same
job goes to IBM Quantum (``QISKIT_IBM_TOKEN`` / ``QISKIT_IBM_INSTANCE`` or a saved account), to the
least-busy device with enough qubits unless ``--backend`` names one.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from qser_core.cli.common import add_command, config_from, count, emit, qubit_list
from qser_core.config import HardwareConfig
from qser_core.hardware.options import READOUT_METHODS, TRANSPILE_TRIALS


def _say(text: str) -> None:
    print(f"qser: {text}", file=sys.stderr)


def _scores_text(result: dict[str, Any]) -> str:
    lines = []
    for target in ("ideal", "noisy", "hardware", "recalibrated"):
        if s := result.get(target):
            lines.append(f"{target:<13} UA {s['ua']:.3f} [{s['ua_ci95'][0]:.3f}, {s['ua_ci95'][1]:.3f}]  "
                         f"WA {s['wa']:.3f}  macro-F1 {s['macro_f1']:.3f}  jobs {s['jobs']}")
    if a := result.get("agreement"):
        lines.append(f"agreement with ideal {a['agreement']:.3f}, ⟨Z⟩ correlation {a['zcorr']:.3f}, "
                     f"mean |Δ⟨Z⟩| {a['zmad']:.3f}, McNemar p {a['mcnemar']['p_value']:.3f}")
    return "\n".join(lines)


def _knobs_text(hardware: dict[str, Any] | None) -> str:
    """The recorded hardware config in brief: the primitive, then each knob that differs from its default."""
    if not hardware:
        return ""
    default = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(HardwareConfig()).items()}
    changed = [f"{k}={v}" for k, v in hardware.items() if k in HardwareConfig._not_in_key
               and k not in ("instance", "primitive", "noise_scale") and v != default[k]]
    return f"  [{', '.join([hardware.get('primitive', '?'), *changed])}]"


def _plan_text(run) -> str:
    from qser_core.hardware.circuit import seed_search_text

    s, e = run.isa.stats, run.estimate
    head = (f"{run.backend}: depth {s['depth']}, two-qubit gates {s['two_qubit_gates']} ({seed_search_text(s)}), "
            f"layout {s['layout']}; {len(run.angles)} clips × {run.shots} shots")
    cost = (f"≈ {e['quantum_seconds']:.1f} QPU s (IBM's quick formula {e['ibm_quick_formula_s']:.1f} s) against "
            f"{e['remaining_s']:.0f} s left ({e['source']})" if e.get("remaining_s") is not None
            else f"≈ {e['quantum_seconds']:.1f} QPU s ({e['source']})")
    if run.local:
        return f"{head}, simulated offline (nothing is sent; on the device this job would cost {cost.lstrip('≈ ')})"
    return f"{head} {cost}; IBM cancels the job after {e['max_execution_time_s']} s"


def _instance(args: argparse.Namespace, config=None) -> str | None:
    return getattr(args, "instance", None) or (config.hardware.instance if config is not None else None) or None


def _service(args: argparse.Namespace, config=None):
    if getattr(args, "fake", False):
        return None
    from qser_core.hardware.backends import connect

    return connect(instance=_instance(args, config))


def hardware_config(args: argparse.Namespace):
    """The config of ``qser hardware run|curve``: file → ``--set`` → the hardware flags given.

    Examples
    --------
    >>> from qser_core.cli import build_parser
    >>> args = build_parser().parse_args(["hardware", "run", "--model", "m", "--sampler", "--layout", "4,5,6"])
    >>> hw = hardware_config(args).hardware
    >>> hw.primitive, hw.layout, hw.shots
    ('sampler', (4, 5, 6), 1024)
    """
    given = {"backend": args.backend, "shots": getattr(args, "shots", None),
             "optimization_level": args.optimization_level, "instance": args.instance,
             "primitive": "sampler" if args.sampler else None, "resilience_level": args.resilience,
             "dynamical_decoupling": True if args.dd else None, "readout": args.readout,
             "transpile_trials": args.transpile_trials, "layout": args.layout, "clips": args.clips,
             "recalibrate": args.recalibrate, "noise_scale": getattr(args, "noise_scale", None)}
    return config_from(args, **{f"hardware.{name}": value for name, value in given.items()})


def _plan(args: argparse.Namespace, *, fake: bool):
    from qser_core.experiments.models.trained import load_model
    from qser_core.hardware.run import plan

    config = hardware_config(args)
    model = load_model(args.model)
    run, device = plan(model, config.hardware, fake=fake, service=None if fake else _service(args, config),
                       model_path=str(args.model))
    _say(_plan_text(run))
    return model, run, device


def _cmd_run(args: argparse.Namespace) -> int:
    from qser_core.errors import ConfigError
    from qser_core.hardware.run import dispatch

    if args.noise_scale is not None and not args.fake:  # before anything is loaded or transpiled
        raise ConfigError("--noise-scale scales the offline noise simulation only: add --fake, or drop it (on IBM "
                          "Quantum the device's own noise applies)")
    model, run, device = _plan(args, fake=args.fake)
    result = dispatch(model, run, device, wait_result=not args.no_wait, track=not args.no_track, confirmed=args.yes)
    if result.get("status") == "submitted":
        emit(args, result, f"submitted job {result['job_id']} (run {result['run_id']}); "
                           f"`qser hardware fetch {result['job_id']}` when it is done")
        return 0
    emit(args, result, _scores_text(result) + f"\njob {', '.join(result['job_ids'])}, run {result['run_id']}")
    return 0


def _cmd_curve(args: argparse.Namespace) -> int:
    from qser_core.cli.common import TqdmProgress
    from qser_core.hardware.run import noise_curve
    from qser_core.progress import RunContext

    args.fake = True
    model, run, device = _plan(args, fake=True)
    with TqdmProgress() as progress:
        curve = noise_curve(model, run, device, noise_scales=args.noise_scales, shots=args.shot_counts,
                            context=RunContext(progress=progress, track=not args.no_track))
    rows = [f"{curve['axis']} {p[curve['axis']]:>8}: UA {p['ua']:.3f} [{p['ua_ci95'][0]:.3f}, {p['ua_ci95'][1]:.3f}]  "
            f"WA {p['wa']:.3f}  macro-F1 {p['macro_f1']:.3f}  jobs {p['jobs']}" for p in curve["points"]]
    emit(args, curve, "\n".join(rows + [f"ideal UA {curve['ideal']['ua']:.3f}; {curve['jobs']} jobs in all"]))
    return 0


def _cmd_backends(args: argparse.Namespace) -> int:
    from qser_core.errors import BackendError
    from qser_core.hardware.backends import account_configured, connect, list_backends

    service, note = None, None
    if account_configured() and not args.fake:
        try:
            service = connect(instance=_instance(args, config_from(args)))
            listing = list_backends(service)
        except BackendError as exc:
            service, note = None, str(exc)
    if service is None:
        listing = list_backends(None)
    if note:
        listing["account"]["message"] = f"{note}; listing offline fake backends"
    _say(listing["account"]["message"])
    rows = [f"{b['name']:<16} {b['n_qubits']:>4} qubits  "
            + ("" if b["pending_jobs"] is None else f"queue {b['pending_jobs']:>5}  ") + b["status"]
            for b in listing["backends"]]
    best = listing["least_busy"]
    tail = ([f"default (--backend auto): {best}" + ("" if service is not None else " offline")] if best else [])
    emit(args, listing, "\n".join(rows + tail))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from qser_core.hardware.run import job_list

    jobs = job_list(refresh=args.refresh, instance=_instance(args, config_from(args)))
    rows = [f"{j['submitted']}  {j['job_id']}  {j['target']:<8} {j['backend']:<15} {j['status']:<10} "
            f"{j['model']}  {j['shots']} shots" + ("" if j["noise_scale"] is None else f"  λ {j['noise_scale']}")
            + _knobs_text(j.get("hardware_config")) + (f"  ({j['reason']})" if j["reason"] else "") for j in jobs]
    emit(args, {"jobs": jobs}, "\n".join(rows) or "no recorded hardware jobs")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from qser_core.hardware.run import fetch

    result = fetch(args.job_id, instance=args.instance or None)
    emit(args, result, _scores_text(result) + f"\nrun {result['run_id']}" + _knobs_text(result.get("hardware_config"))
         + ("" if result["fetched"] else " (already fetched; stored result)"))
    return 0


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `qser train --out` (quantum head)")
    p.add_argument("--backend", help="IBM device, e.g. ibm_fez, ibm_marrakesh, ibm_torino; auto (default): the "
                                     "least-busy one with enough qubits (ibm_fez offline)")
    # Each flag overrides one hardware.* field (common.FLAG_NAMES); its default is the config's.
    p.add_argument("--clips", type=int, help="stratified subset of the test clips (to fit a QPU budget; default "
                                             "from config: 0 = all)")
    p.add_argument("--recalibrate", type=count, metavar="N",
                   help="refit the readout on N training clips run in the same job (default from config: 0 = off)")
    p.add_argument("--resilience", type=int, choices=(0, 1, 2),
                   help="Estimator resilience level (default from config: 1)")
    p.add_argument("--dd", action="store_true", default=None, help="dynamical decoupling (hardware)")
    p.add_argument("--sampler", action="store_true", help="SamplerV2 with ⟨Z⟩ from bit strings instead of EstimatorV2")
    p.add_argument("--readout", choices=READOUT_METHODS,
                   help="Sampler-path readout mitigation: mthree calibrates the measured qubits (M3) and corrects "
                        "the counts (needs --sampler; default from config: none)")
    p.add_argument("--optimization-level", type=int, help="transpiler level 0-3 (default from config: 1)")
    p.add_argument("--transpile-trials", type=int, metavar="N",
                   help=f"transpiler seeds tried, fewest two-qubit gates kept (default from config: {TRANSPILE_TRIALS})")
    p.add_argument("--layout", type=qubit_list, metavar="Q0,Q1,...", help="initial layout: physical qubit of each circuit qubit "
                                                         "(default from config: the transpiler's choice)")
    p.add_argument("--instance", help="IBM Quantum instance CRN (default: hardware.instance, QISKIT_IBM_INSTANCE or "
                                      "the account's)")
    p.add_argument("--no-track", action="store_true", help="do not record the run")


def register(sub) -> None:
    """Add ``qser hardware`` with its subcommands."""
    group = sub.add_parser("hardware", help="run a trained quantum head on IBM Quantum or its calibrated noise")
    actions = group.add_subparsers(dest="hardware_command", metavar="ACTION", required=True)

    p = add_command(actions, "backends", _cmd_backends, "IBM Quantum backends of the account (or the fake ones)")
    p.add_argument("--fake", action="store_true", help="list the offline fake backends only")
    p.add_argument("--instance", help="IBM Quantum instance CRN")

    p = add_command(actions, "run", _cmd_run, "test clips on a device (or its noise, --fake) in ONE primitive job")
    _run_flags(p)
    p.add_argument("--shots", type=int, help="shots per clip (default from config: 1024)")
    p.add_argument("--fake", action="store_true", help="offline: the device's fake backend and calibrated noise")
    p.add_argument("--noise-scale", type=float, help="λ: device noise × λ (offline only; default from config: 1.0)")
    p.add_argument("--no-wait", action="store_true", help="return once the hardware job is recorded")
    p.add_argument("--yes", action="store_true", help="send even when the estimate exceeds the QPU time left")

    p = add_command(actions, "curve", _cmd_curve, "accuracy versus noise scale λ or shots, offline, one job per point")
    _run_flags(p)
    axis = p.add_mutually_exclusive_group(required=True)
    axis.add_argument("--noise-scales", type=float, nargs="+", metavar="X", help="λ values, e.g. 0 0.25 0.5 1 2")
    axis.add_argument("--shots", dest="shot_counts", type=int, nargs="+", metavar="N", help="shots, e.g. 64 1024 8192")

    p = add_command(actions, "status", _cmd_status, "recorded hardware jobs and their status")
    p.add_argument("--refresh", action="store_true", help="poll IBM Quantum for unfinished jobs")
    p.add_argument("--instance", help="IBM Quantum instance CRN (default: each job's recorded instance)")

    p = add_command(actions, "fetch", _cmd_fetch, "retrieve a job's result into its recorded run (idempotent)")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--instance", help="IBM Quantum instance CRN (default: the job's recorded instance)")

    from qser_core.cli import noise_aware  # advise, noise-aware (light: heavy imports live in its handlers)

    noise_aware.register(actions)

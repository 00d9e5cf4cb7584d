"""``qser hardware advise|noise-aware``: shots budget advice, and noise-aware against ideal training, offline.

``qser hardware advise --model DIR --backend ibm_fez --json`` recommends the fewest shots per clip that keep the
head's answers and says how many test clips then fit in the QPU budget; ``qser hardware noise-aware
--model-ideal A --model-aware B --backend ibm_fez --json`` scores two heads under the device's noise at
λ = 0.5, 1, 2 on the same clips with paired tests. Registered under ``qser hardware`` by
:func:`register` (heavy imports stay inside the handlers).
"""

from __future__ import annotations

import argparse

from qser_core.cli.common import add_command, emit

__all__ = ["register"]


def _cmd_advise(args: argparse.Namespace) -> int:
    from qser_core.cli.common import TqdmProgress
    from qser_core.experiments.models.trained import load_model
    from qser_core.hardware.advisor import advise
    from qser_core.progress import RunContext

    model = load_model(args.model)
    with TqdmProgress() as progress:
        out = advise(model, backend=args.backend or model.config.hardware.backend, shots=args.shots,
                     target=args.target, noise_scale=args.noise_scale, n_clips=args.clips, budget_s=args.budget_s,
                     context=RunContext(progress=progress))
    rec = out["recommendation"]
    lines = [f"{p['shots']:>6} shots: agreement {p['agreement']:.1%}, UA {p['ua']:.3f}" for p in out["points"]]
    lines.append(f"ideal UA {out['ideal']['ua']:.3f} [{out['ideal']['ua_ci95'][0]:.3f}, {out['ideal']['ua_ci95'][1]:.3f}]")
    lines.append(f"recommendation: {rec['shots'] or 'none'} — {rec['reason']}")
    lines.append(f"at {out['budget_shots']} shots{'' if out['meets_target'] else ' (best reached, below target)'}: "
                 f"{out['clips_fit']} clips fit in {out['budget_s']:.0f} QPU s ({out['budget_source']}); "
                 f"all {out['n_test']} test clips need ≈ {out['seconds_per_job']:.1f} s")
    emit(args, out, "\n".join(lines))
    return 0


def _cmd_noise_aware(args: argparse.Namespace) -> int:
    from qser_core.cli.common import TqdmProgress
    from qser_core.experiments.models.trained import load_model
    from qser_core.hardware.noise_aware import compare_training
    from qser_core.progress import RunContext

    models = {"ideal": load_model(args.model_ideal), "noise_aware": load_model(args.model_aware)}
    with TqdmProgress() as progress:
        out = compare_training(models, backend=args.backend, noise_scales=args.noise_scales, shots=args.shots,
                               n_clips=args.clips, recalibrate=args.recalibrate, context=RunContext(progress=progress))
    lines = []
    for p in out["points"]:
        d = p["paired"]
        lines.append(f"λ {p['noise_scale']:<4}: ideal-trained UA {p['ideal']['ua']:.3f}, noise-aware UA "
                     f"{p['noise_aware']['ua']:.3f}, difference {d['ua_diff']:+.3f} "
                     f"[{d['ua_diff_ci95'][0]:+.3f}, {d['ua_diff_ci95'][1]:+.3f}] p {d['p_value']:.3f}")
    emit(args, out, "\n".join(lines + [out["verdict"]]))
    return 0


def register(actions) -> None:
    """Add ``advise`` and ``noise-aware`` to the ``qser hardware`` subcommands."""
    p = add_command(actions, "advise", _cmd_advise,
                    "fewest shots per clip that keep agreement with ideal, and the clips that fit the QPU budget")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `qser train --out` (quantum head)")
    p.add_argument("--backend", help="IBM device whose noise and timing advise (default from the model's config)")
    p.add_argument("--shots", type=int, nargs="+", metavar="N", help="shot counts tried (default: 64 256 1024 4096 8192)")
    p.add_argument("--target", type=float, default=0.95, help="agreement with the ideal predictions to keep (default 0.95)")
    p.add_argument("--noise-scale", type=float, default=1.0, help="λ: device noise × λ (default 1)")
    p.add_argument("--clips", type=int, help="stratified subset of the test clips for the curve")
    p.add_argument("--budget-s", type=float, help="remaining QPU seconds of the account (default: Open Plan, 600)")

    p = add_command(actions, "noise-aware", _cmd_noise_aware,
                    "ideal-trained against noise-aware head under a device's noise at several λ, paired tests")
    p.add_argument("--model-ideal", required=True, metavar="DIR", help="the head trained ideally")
    p.add_argument("--model-aware", required=True, metavar="DIR", help="the same head trained with head.noise_aware=true")
    p.add_argument("--backend", default="ibm_fez", help="fake IBM device whose noise scores both (default ibm_fez)")
    p.add_argument("--noise-scales", type=float, nargs="+", default=[0.5, 1.0, 2.0], metavar="X",
                   help="λ values (default 0.5 1 2)")
    p.add_argument("--shots", type=int, default=1024, help="shots per clip (default 1024)")
    p.add_argument("--clips", type=int, help="stratified subset of the test clips")
    p.add_argument("--recalibrate", type=int, default=100, metavar="N",
                   help="readout recalibration on N training clips in the same jobs (default 100; 0 = off)")

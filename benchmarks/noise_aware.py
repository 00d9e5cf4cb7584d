"""Noise-aware against ideal training under one device's noise, and the shots advice, in one command.

    python -m benchmarks.noise_aware --dataset emodb --data-dir ../shared/data/emodb --backend ibm_torino

trains the same quantum head twice on the single speaker split — ideally, and with
``head.noise_aware=true`` (errors sampled from ``--backend``'s calibration at λ = 1) — then scores both
with the noisy evaluation (Aer, the device's noise × λ, one job per point) at λ = 0.5, 1, 2 on the same
test clips, with paired tests and the readout recalibration beside them
(:func:`qser_core.hardware.noise_aware.compare_training`), asks the shots advisor about each head
(:func:`qser_core.hardware.advisor.advise`), and writes everything, with the seconds each step took,
to ``benchmarks/results/noise_aware-<dataset>.json`` (``--out``). Extra config fields: ``--set``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, log

#: Modest defaults: the machine is shared (one split, no tuning search, early stopping).
DEFAULTS = ("head.kind=quantum", "head.ansatz=strong", "head.n_layers=2", "reduce.n_qubits=8", "train.tune=false",
            "train.epochs=80", "train.patience=20")


def main(argv: list[str] | None = None) -> int:
    from qser_core.config import load_config
    from qser_core.experiments.pipeline import prepare
    from qser_core.experiments.protocols.single import train_model
    from qser_core.progress import RunContext
    from qser_core.hardware.advisor import advise
    from qser_core.hardware.noise_aware import compare_training

    args = build_parser().parse_args(argv)
    overrides = list(DEFAULTS) + [f"data.dataset={args.dataset}"] + (
        [f"data.data_dir={args.data_dir}"] if args.data_dir else []) + list(args.set or [])
    config = load_config(None, overrides)
    aware_config = config.replace("head", noise_aware=True, noise_backend=args.backend, noise_scale=args.train_scale)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    features = prepare(config)
    seconds["features"] = time.perf_counter() - start
    models = {}
    for name, cfg in (("ideal", config), ("noise_aware", aware_config)):
        log(f"training the {name} head")
        start = time.perf_counter()
        models[name] = train_model(cfg, features=features, context=RunContext(track=False))
        seconds[f"train_{name}"] = time.perf_counter() - start
        if args.models_dir:
            models[name].save(Path(args.models_dir) / name)
    log("scoring both under the device's noise")
    start = time.perf_counter()
    comparison = compare_training(models, backend=args.backend, noise_scales=args.noise_scales, shots=args.shots,
                                  recalibrate=args.recalibrate, features=features)
    seconds["compare"] = time.perf_counter() - start
    advice = {}
    for name, model in models.items():
        log(f"shots advice for the {name} head")
        start = time.perf_counter()
        advice[name] = advise(model, backend=args.backend, features=features)
        seconds[f"advise_{name}"] = time.perf_counter() - start
    machine = _machine()
    out: dict[str, Any] = {
        # "partial": not a full `python -m benchmarks` run, so the README's benchmark table never quotes it
        "date": machine["date"], "partial": True,
        "command": "python -m benchmarks.noise_aware " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": aware_config.to_dict(), "backend": args.backend, "train_noise_scale": args.train_scale,
        "torch_test": {name: {k: m.metrics[k] for k in ("ua", "wa", "macro_f1", "n_test")} for name, m in models.items()},
        "epochs": {name: len(m.history) for name, m in models.items()},
        "noise_trained_with": models["noise_aware"].head.noise_["rates"],
        "comparison": comparison, "advice": advice, "seconds": seconds, "machine": machine,
    }
    path = Path(args.out or ROOT / "benchmarks" / "results" / f"noise_aware-{args.dataset}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    print(table(out))
    log(f"wrote {path}")
    return 0


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _machine() -> dict[str, Any]:
    from benchmarks.machine import describe

    return describe()


def _ci(pair) -> str:
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def table(out: dict[str, Any]) -> str:
    """The README's Markdown table of a result file."""
    comp = out["comparison"]
    lines = ["| λ | ideal-trained UA | noise-aware UA | noise-aware − ideal (paired) | agreement with ideal "
             "(ideal-trained / noise-aware) | recalibrated UA (ideal-trained / noise-aware) |",
             "|---|---|---|---|---|---|"]
    for p in comp["points"]:
        i, a, d = p["ideal"], p["noise_aware"], p["paired"]
        rec = (f"{i['recalibrated']['ua']:.3f} / {a['recalibrated']['ua']:.3f}" if "recalibrated" in i else "—")
        lines.append(f"| {p['noise_scale']:g} | {i['ua']:.3f} {_ci(i['ua_ci95'])} | {a['ua']:.3f} {_ci(a['ua_ci95'])} | "
                     f"{d['ua_diff']:+.3f} {_ci(d['ua_diff_ci95'])}, p = {d['p_value']:.2f} | "
                     f"{i['agreement']:.1%} / {a['agreement']:.1%} | {rec} |")
    ideal = comp["ideal"]
    lines.append(f"| exact (no noise) | {ideal['ideal']['ua']:.3f} {_ci(ideal['ideal']['ua_ci95'])} | "
                 f"{ideal['noise_aware']['ua']:.3f} {_ci(ideal['noise_aware']['ua_ci95'])} | | | |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.noise_aware", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="emodb")
    p.add_argument("--data-dir", help="corpus folder (e.g. ../shared/data/emodb)")
    p.add_argument("--backend", default="ibm_torino", help="fake Heron device (ibm_fez, ibm_marrakesh, ibm_torino)")
    p.add_argument("--train-scale", type=float, default=1.0, help="λ the noise-aware head trains with (default 1)")
    p.add_argument("--noise-scales", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--shots", type=int, default=1024)
    p.add_argument("--recalibrate", type=int, default=100, help="training clips for the readout recalibration")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="extra config override")
    p.add_argument("--models-dir", help="also save both trained heads here")
    p.add_argument("--out", help="result file (default benchmarks/results/noise_aware-<dataset>.json)")
    return p


if __name__ == "__main__":
    sys.exit(main())

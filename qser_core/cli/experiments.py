"""``qser evaluate|train|hybrid|predict``: the experiment protocols and saved models."""

from __future__ import annotations

import argparse

from qser_core.cli.common import TqdmProgress, add_command, check_out_folder, config_from, dataset_flags, emit, head_flags, note_synthetic, pipeline_flags


def _cmd_evaluate(args: argparse.Namespace) -> int:
    config = config_from(args, **pipeline_flags(args))
    from qser_core.experiments.crossval import evaluate

    note_synthetic(config)
    with TqdmProgress() as progress:
        summary = evaluate(config, progress=progress, track=not args.no_track).summary()
    text = "\n".join(f"{k:>16}: {v}" for k, v in summary.items() if k != "confusion")
    emit(args, summary, text)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    check_out_folder(args.out, what="saved model")  # before training, not after it
    config = config_from(args, **pipeline_flags(args))
    from qser_core.experiments.model import train_model

    note_synthetic(config)
    with TqdmProgress() as progress:
        model = train_model(config, progress=progress, track=not args.no_track)
    folder = model.save(args.out)
    result = {"out": str(folder), "run_id": model.run_id,
              **{k: v for k, v in model.metrics.items() if k != "confusion"}}
    emit(args, result, f"saved to {folder}: test UA {model.metrics['ua']:.3f}, WA {model.metrics['wa']:.3f}, "
                        f"macro-F1 {model.metrics['macro_f1']:.3f} ({model.metrics['params']} parameters)")
    return 0


def _cmd_hybrid(args: argparse.Namespace) -> int:
    flags = {**pipeline_flags(args), "train.trainable_blocks": args.trainable_blocks}
    config = config_from(args, **flags)
    from qser_core.experiments.hybrid import train_hybrid

    note_synthetic(config)
    with TqdmProgress() as progress:
        result = train_hybrid(config, progress=progress, track=not args.no_track)
    summary = result.summary()
    rows = [(name, summary[part]) for name, part in (("hybrid (end to end)", "hybrid"), ("frozen backbone + PQC", "frozen"))]
    text = "\n".join(f"{name:<22} UA {m['ua']:.3f}  WA {m['wa']:.3f}  macro-F1 {m['macro_f1']:.3f}  params {m['params']:,}"
                     for name, m in rows)
    gain = summary["gain"]
    text += "\n" + f"{'gain':<22} UA {gain['ua']:+.3f}  WA {gain['wa']:+.3f}  macro-F1 {gain['macro_f1']:+.3f}"
    text += f"\n{summary['epochs']} epochs (best {summary['best_epoch']}), {summary['seconds']:.0f} s"
    text += " (cancelled: best epoch kept)" if summary["cancelled"] else ""
    emit(args, summary, text)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import time

    from qser_core.data.corpus import is_synthetic
    from qser_core.experiments.model import load_model

    model = load_model(args.model)
    start = time.perf_counter()
    proba = model.predict_proba(args.clip)
    seconds = time.perf_counter() - start
    best = max(proba, key=proba.get)
    text = "\n".join(f"{k}  {v:6.3f}{'  <' if k == best else ''}" for k, v in proba.items())
    synthetic = is_synthetic(model.config.data)
    if synthetic:
        text += "\n(model trained on SYNTHETIC eSpeak NG speech: not a judgement of human emotion)"
    emit(args, {"clip": str(args.clip), "emotion": best, "probabilities": proba, "seconds": seconds,
                "synthetic": synthetic}, text)
    return 0


def register(sub) -> None:
    """Add ``qser evaluate``, ``qser train``, ``qser hybrid`` and ``qser predict``."""
    for name, handler, text in (("evaluate", _cmd_evaluate, "speaker-disjoint cross-validation of one head"),
                                ("train", _cmd_train, "train one head on the train/val/test split and save it")):
        p = add_command(sub, name, handler, text)
        dataset_flags(p)
        head_flags(p)
        if name == "evaluate":
            p.add_argument("--folds", type=int, help="speaker-disjoint folds (default: 5)")
            p.add_argument("--seeds", type=int, help="number of seeds, runs seeds 0..N-1 (default: config train.seeds)")
        else:
            p.add_argument("--out", required=True, metavar="DIR", help="folder for the saved model")

    p = add_command(sub, "hybrid", _cmd_hybrid, "train backbone tail → linear reduction → PQC end to end; compare with the frozen head")
    dataset_flags(p)
    head_flags(p)
    p.add_argument("--trainable-blocks", type=int, help="last backbone blocks trained end to end (default: 1)")

    p = add_command(sub, "predict", _cmd_predict, "per-emotion probabilities of one clip from a saved model")
    p.add_argument("clip", metavar="CLIP", help="audio file (wav, flac, ogg, mp3)")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `qser train --out`")

"""``qser evaluate|train|hybrid|predict``: the experiment protocols and saved models."""

from __future__ import annotations

import argparse
import math
import sys

from qser_core.cli.common import TqdmProgress, add_command, check_out_folder, check_storage, config_from, dataset_flags, emit, head_flags, note_synthetic, pipeline_flags


class EpochLines:
    """``on_event(event)`` writing one stderr line per ``epoch`` event (above the progress bar).

    Each line names the head (the hybrid run: the stage, and fold and seed in cross-validation), the
    epoch out of the maximum and the best validation UA so far, so a long run shows that it is learning.
    """

    def __init__(self, max_epochs: int) -> None:
        self.max_epochs = max_epochs
        self._best: dict[tuple, float] = {}

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if event.kind != "epoch":
            return
        head, fold, seed, log = event.stage or event.head, event.fold, event.seed, event.payload
        key = (head, fold, seed)
        if math.isfinite(log.val_ua):
            self._best[key] = max(self._best.get(key, -math.inf), log.val_ua)
        best = self._best.get(key)
        where = f" fold {fold + 1} seed {seed}" if fold is not None else ""
        tqdm.write(f"{head}{where}: epoch {log.epoch}/{self.max_epochs}, train loss {log.train_loss:.3f}, "
                   f"best val UA {'-' if best is None else f'{best:.3f}'}", file=sys.stderr)


def _context(args: argparse.Namespace, config, progress):
    """The run context of a training command: its bar, its epoch lines, ``--no-track``."""
    from qser_core.progress import RunContext

    return RunContext(progress=progress, track=not args.no_track, on_event=EpochLines(config.train.epochs))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    kinds = args.head or []
    config = config_from(args, **{**pipeline_flags(args), "head.kind": kinds[0] if len(kinds) == 1 else None})
    note_synthetic(config)
    check_storage(config, track=not args.no_track)
    with TqdmProgress() as progress:
        context = _context(args, config, progress)
        if len(kinds) > 1:
            from qser_core.experiments.protocols.compare import compare_heads

            comparison = compare_heads(config, kinds, context=context)
        else:
            from qser_core.experiments.protocols.crossval import evaluate

            summary = evaluate(config, context=context).summary()
    if len(kinds) > 1:  # printed after the bar is cleared, so no half-drawn bar lands beside the result
        emit(args, comparison.summary(), _comparison_text(comparison.summary()))
        return 0
    emit(args, summary, "\n".join(f"{k:>16}: {v}" for k, v in summary.items() if k != "confusion"))
    return 0


def _comparison_text(summary: dict) -> str:
    rows = [f"{kind:<12} UA {r['ua']:.3f} [{r['ua_ci95'][0]:.3f}, {r['ua_ci95'][1]:.3f}]  WA {r['wa']:.3f}  "
            f"macro-F1 {r['macro_f1']:.3f}  params {r['params']:,}" for kind, r in summary["results"].items()]
    rows += [f"UA {summary['reference']} − {kind}: {t['bootstrap']['diff']:+.3f} "
             f"[{t['bootstrap']['ci95'][0]:+.3f}, {t['bootstrap']['ci95'][1]:+.3f}], "
             f"McNemar p = {t['mcnemar']['p_value']:.3g} ({t['n_clips']} clips)" for kind, t in summary["paired"].items()]
    rows += [summary["paired_note"]] if summary.get("paired_note") else []
    return "\n".join(rows + (["(cancelled)"] if summary["cancelled"] else []))


def _cmd_train(args: argparse.Namespace) -> int:
    check_out_folder(args.out, what="saved model")  # before training, not after it
    config = config_from(args, **pipeline_flags(args))
    from qser_core.experiments.protocols.single import train_model

    note_synthetic(config)
    check_storage(config, track=not args.no_track, out=args.out)
    with TqdmProgress() as progress:
        model = train_model(config, context=_context(args, config, progress))
    folder = model.save(args.out)
    result = {"out": str(folder), "run_id": model.run_id,
              **{k: v for k, v in model.metrics.items() if k != "confusion"}}
    emit(args, result, f"saved to {folder}: test UA {model.metrics['ua']:.3f}, WA {model.metrics['wa']:.3f}, "
                        f"macro-F1 {model.metrics['macro_f1']:.3f} ({model.metrics['params']} parameters)")
    return 0


def _cmd_hybrid(args: argparse.Namespace) -> int:
    flags = {**pipeline_flags(args), "train.trainable_blocks": args.trainable_blocks}
    config = config_from(args, **flags)
    from qser_core.experiments.protocols.hybrid import train_hybrid

    note_synthetic(config)
    check_storage(config, track=not args.no_track)
    with TqdmProgress() as progress:
        result = train_hybrid(config, context=_context(args, config, progress))
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

    from qser_core.data.demo import is_synthetic
    from qser_core.experiments.models.trained import load_model

    if args.set or args.config:  # not silently ignored: the model folder fixes every setting predict uses
        print(f"qser: note: {'--set' if args.set else '--config'} is not used by predict: a saved model carries its "
              f"own configuration ({args.model}/config.toml); train another model to change it", file=sys.stderr)
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
    for name, handler, text in (("evaluate", _cmd_evaluate, "speaker-disjoint cross-validation of one head, "
                                 "or of several on identical inputs with paired tests"),
                                ("train", _cmd_train, "train one head on the train/val/test split and save it")):
        p = add_command(sub, name, handler, text)
        dataset_flags(p)
        head_flags(p, head="several" if name == "evaluate" else "one")
        if name == "evaluate":
            p.add_argument("--folds", type=int, help="speaker-disjoint folds (default: 5)")
            p.add_argument("--seeds", type=int, help="number of seeds, runs seeds 0..N-1 (default: config train.seeds)")
        else:
            p.add_argument("--out", required=True, metavar="DIR", help="folder for the saved model")

    p = add_command(sub, "hybrid", _cmd_hybrid, "train backbone tail → linear reduction → PQC end to end; compare with the frozen head")
    dataset_flags(p)
    head_flags(p, head="none")  # the hybrid model always ends in the quantum head
    p.add_argument("--trainable-blocks", type=int, help="last backbone blocks trained end to end (default: 1)")

    p = add_command(sub, "predict", _cmd_predict, "per-emotion probabilities of one clip from a saved model")
    p.add_argument("clip", metavar="CLIP", help="audio file (wav, flac, ogg, mp3)")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `qser train --out`")

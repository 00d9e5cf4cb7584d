"""qser: the QSER Lab command line (data, embeddings, training, evaluation, prediction).

``qser --help`` lists the subcommands; ``qser SUBCOMMAND --help`` shows each one's options and defaults.
Every command takes ``--config PATH`` and repeatable ``--set section.field=value``; ``--json`` prints
exactly one JSON object on stdout, with progress and logs on stderr. Exit codes: 0 success, 2 usage or
configuration error, 1 any other QSER Lab error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

from qser_core.config import ANSATZE, BACKBONES, DATASETS, ENCODINGS, HEAD_KINDS, QserConfig, load_config
from qser_core.errors import ConfigError, QserError

__all__ = ["main", "build_parser"]


# ------------------------------------------------------------------ rendering helpers
class _TqdmProgress:
    """``progress(done, total, message)`` callback drawing one tqdm bar on stderr."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        from tqdm import tqdm

        if self._bar is None or self._bar.total != total:
            self.close()
            self._bar = tqdm(total=total, file=sys.stderr, dynamic_ncols=True, leave=False)
        self._bar.set_description(message[:60])
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "_TqdmProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also on errors, so the message is not printed behind a half-drawn bar


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """Print ``result`` as one JSON object with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(result, default=_jsonable))
    else:
        print(text)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _config(args: argparse.Namespace, **flag_overrides: Any) -> QserConfig:
    """Config file → ``--set`` overrides → dedicated flags (only those given)."""
    overrides = list(args.set or [])
    overrides += [f"{key}={value}" for key, value in flag_overrides.items() if value is not None]
    return load_config(args.config, overrides)


def _pipeline_flags(args: argparse.Namespace) -> dict[str, Any]:
    seeds = getattr(args, "seeds", None)
    # A folder without a --dataset is read as CREMA-D, the corpus the lab is built around.
    dataset = args.dataset or ("crema-d" if args.data_dir else None)
    return {
        "data.dataset": dataset,
        "data.data_dir": args.data_dir,
        "embedding.backbone": args.backbone,
        "reduce.n_qubits": getattr(args, "qubits", None),
        "head.kind": getattr(args, "head", None),
        "head.ansatz": getattr(args, "ansatz", None),
        "head.encoding": getattr(args, "encoding", None),
        "head.n_layers": getattr(args, "layers", None),
        "train.epochs": getattr(args, "epochs", None),
        "data.n_folds": getattr(args, "folds", None),
        "train.seeds": ",".join(str(s) for s in range(seeds)) if seeds else None,
    }


def _note_synthetic(config: QserConfig) -> None:
    """Say plainly on stderr when results come from the synthetic demo corpus."""
    if config.data.dataset == "demo":
        print("qser: note: dataset 'demo' is SYNTHETIC eSpeak NG speech made by the lab; numbers measured on it "
              "say nothing about human speech (use --dataset crema-d --data-dir DIR for real results)",
              file=sys.stderr)


def _counts_text(table) -> str:
    from qser_core.data import counts_by

    return "\n\n".join(f"clips per {col}:\n{counts_by(table, col).to_string()}" for col in ("emotion", "speaker"))


# ------------------------------------------------------------------ handlers
def _cmd_config_show(args: argparse.Namespace) -> int:
    config = _config(args)
    _emit(args, config.to_dict(), config.to_toml())
    return 0


def _cmd_data_demo(args: argparse.Namespace) -> int:
    from qser_core.demo import generate_demo_corpus

    with _TqdmProgress() as progress:
        out = generate_demo_corpus(args.out, n_speakers=args.speakers, seed=args.seed, progress=progress)
    n = len(list(out.glob("*.wav")))
    _emit(args, {"out": str(out), "n_clips": n, "synthetic": True},
          f"wrote {n} SYNTHETIC eSpeak NG clips (CREMA-D file names) to {out}")
    return 0


def _cmd_data_index(args: argparse.Namespace) -> int:
    from qser_core.data import counts_by, index_corpus
    from qser_core.demo import is_demo_corpus

    corpus = index_corpus(args.folder, dataset=args.dataset)
    table = corpus.table
    if is_demo_corpus(args.folder):
        print("qser: note: this folder is the SYNTHETIC eSpeak NG demo corpus", file=sys.stderr)
    result = {"n_clips": len(table), "n_speakers": int(table["speaker"].nunique()),
              "emotion": counts_by(table, "emotion").iloc[:, 0].to_dict(),
              "speaker": counts_by(table, "speaker").iloc[:, 0].to_dict(),
              "skipped": corpus.report.skipped, "dropped": corpus.report.dropped}
    _emit(args, result, f"{corpus.report.summary()}\n\n{_counts_text(table)}")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from qser_core.download import download_crema_d

    with _TqdmProgress() as progress:
        report = download_crema_d(args.out, workers=args.workers, progress=progress)
    result = {"out": str(args.out), "downloaded": report.downloaded, "skipped_complete": report.skipped_complete,
              "failed": report.failed}
    _emit(args, result, report.summary())
    return 1 if report.failed else 0


def _cmd_extract(args: argparse.Namespace) -> int:
    config = _config(args, **_pipeline_flags(args))
    from qser_core.embeddings import cache_status
    from qser_core.experiment import prepare

    _note_synthetic(config)
    with _TqdmProgress() as progress:
        features = prepare(config, progress=progress)
    status = cache_status(features.table, config)
    result = {"n_clips": len(features.table), "dim": int(features.embeddings.shape[1]),
              "backbone": config.embedding.backbone, **status}
    _emit(args, result, f"{result['n_clips']} clips → {result['dim']}-d {result['backbone']} embeddings "
                        f"(cache: {status['folder']})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    config = _config(args, **_pipeline_flags(args))
    from qser_core.experiment import evaluate

    _note_synthetic(config)
    with _TqdmProgress() as progress:
        summary = evaluate(config, progress=progress, track=not args.no_track).summary()
    text = "\n".join(f"{k:>16}: {v}" for k, v in summary.items() if k != "confusion")
    _emit(args, summary, text)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    config = _config(args, **_pipeline_flags(args))
    from qser_core.model import train_model

    _note_synthetic(config)
    with _TqdmProgress() as progress:
        model = train_model(config, progress=progress, track=not args.no_track)
    folder = model.save(args.out)
    result = {"out": str(folder), "run_id": model.run_id,
              **{k: v for k, v in model.metrics.items() if k != "confusion"}}
    _emit(args, result, f"saved to {folder}: test UA {model.metrics['ua']:.3f}, WA {model.metrics['wa']:.3f}, "
                        f"macro-F1 {model.metrics['macro_f1']:.3f} ({model.metrics['params']} parameters)")
    return 0


def _cmd_hybrid(args: argparse.Namespace) -> int:
    flags = {**_pipeline_flags(args), "train.trainable_blocks": args.trainable_blocks}
    config = _config(args, **flags)
    from qser_core.hybrid_experiment import train_hybrid

    _note_synthetic(config)
    with _TqdmProgress() as progress:
        result = train_hybrid(config, progress=progress, track=not args.no_track)
    summary = result.summary()
    rows = [(name, summary[part]) for name, part in (("hybrid (end to end)", "hybrid"), ("frozen backbone + PQC", "frozen"))]
    text = "\n".join(f"{name:<22} UA {m['ua']:.3f}  WA {m['wa']:.3f}  macro-F1 {m['macro_f1']:.3f}  params {m['params']:,}"
                     for name, m in rows)
    gain = summary["gain"]
    text += "\n" + f"{'gain':<22} UA {gain['ua']:+.3f}  WA {gain['wa']:+.3f}  macro-F1 {gain['macro_f1']:+.3f}"
    text += f"\n{summary['epochs']} epochs (best {summary['best_epoch']}), {summary['seconds']:.0f} s"
    text += " (cancelled: best epoch kept)" if summary["cancelled"] else ""
    _emit(args, summary, text)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import time

    from qser_core.model import load_model

    model = load_model(args.model)
    start = time.perf_counter()
    proba = model.predict_proba(args.clip)
    seconds = time.perf_counter() - start
    best = max(proba, key=proba.get)
    text = "\n".join(f"{k}  {v:6.3f}{'  <' if k == best else ''}" for k, v in proba.items())
    _emit(args, {"clip": str(args.clip), "emotion": best, "probabilities": proba, "seconds": seconds}, text)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from qser_core.runs import list_runs

    runs = list_runs(max_results=args.limit)
    _emit(args, {"runs": json.loads(runs.to_json(orient="records", date_format="iso"))},
          runs.to_string(index=False) if len(runs) else "no runs recorded yet")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from qser_core.errors import DataError
    from qser_core.experiment import compare_predictions
    from qser_core.runs import load_run

    records = {run_id: load_run(run_id).get("predictions") for run_id in (args.run_a, args.run_b)}
    for run_id, record in records.items():
        if not record:
            raise DataError(f"run {run_id} stored no per-clip predictions; compare runs of `qser train` or `qser evaluate`")
    result = compare_predictions(records[args.run_a], records[args.run_b], metric=args.metric)
    mc, bs = result["mcnemar"], result["bootstrap"]
    text = (f"{result['n_clips']} clips, seed {result['seed']}\n"
            f"McNemar ({mc['method']}): A right/B wrong {mc['b']}, A wrong/B right {mc['c']}, p = {mc['p_value']:.3g}\n"
            f"{args.metric} difference A - B: {bs['diff']:+.3f}, 95% bootstrap interval "
            f"[{bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f}], p = {bs['p_value']:.3g}")
    _emit(args, {"run_a": args.run_a, "run_b": args.run_b, **result}, text)
    return 0


# ------------------------------------------------------------------ parser
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the flag has one (None means: taken from the config)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    parser.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                        help="override one config field; repeatable (e.g. --set head.n_layers=4)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def _dataset_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, help="corpus (default from config: demo)")
    parser.add_argument("--data-dir", metavar="DIR", help="corpus folder (manifest: the CSV file)")
    parser.add_argument("--backbone", choices=BACKBONES, help="embedding backbone (default: efficientnet-lite0)")


def _head_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qubits", type=int, help="PCA components = qubits, 2-12 (default: 8)")
    parser.add_argument("--head", choices=HEAD_KINDS, help="head to train (default: quantum)")
    parser.add_argument("--ansatz", choices=ANSATZE, help="PQC ansatz (default: strong)")
    parser.add_argument("--encoding", choices=ENCODINGS, help="PQC data encoding (default: angle-ry)")
    parser.add_argument("--layers", type=int, help="ansatz layers, 1-8 (default: 2)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: 200, early stopping on validation UA)")
    parser.add_argument("--no-track", action="store_true", help="do not record the run with MLflow")


def _add(sub, name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text,
                            formatter_class=_HelpFormatter)
    parser.set_defaults(handler=handler)
    _common(parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``qser`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="qser", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="corpora: demo, index, download").add_subparsers(
        dest="data_command", metavar="ACTION", required=True)
    p = _add(data, "demo", _cmd_data_demo, "write the synthetic eSpeak NG demo corpus (CREMA-D file names)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--speakers", type=int, default=12, help="synthetic speakers")
    p.add_argument("--seed", type=int, default=0, help="generation seed")
    p = _add(data, "index", _cmd_data_index, "index a corpus folder; print per-emotion and per-speaker counts")
    p.add_argument("folder", metavar="DIR", help="corpus folder (manifest: the CSV file)")
    p.add_argument("--dataset", choices=DATASETS, default="crema-d", help="file-name convention")
    p = _add(data, "download", _cmd_data_download, "download a corpus (CREMA-D from its GitHub LFS store)")
    p.add_argument("corpus", choices=["crema-d"], help="corpus to download")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--workers", type=int, default=8, help="parallel downloads")

    p = _add(sub, "extract", _cmd_extract, "compute (or read from cache) the embeddings of a corpus")
    _dataset_flags(p)

    for name, handler, text in (("evaluate", _cmd_evaluate, "speaker-disjoint cross-validation of one head"),
                                ("train", _cmd_train, "train one head on the train/val/test split and save it")):
        p = _add(sub, name, handler, text)
        _dataset_flags(p)
        _head_flags(p)
        if name == "evaluate":
            p.add_argument("--folds", type=int, help="speaker-disjoint folds (default: 5)")
            p.add_argument("--seeds", type=int, help="number of seeds, runs seeds 0..N-1 (default: config train.seeds)")
        else:
            p.add_argument("--out", required=True, metavar="DIR", help="folder for the saved model")

    p = _add(sub, "hybrid", _cmd_hybrid, "train backbone tail → linear reduction → PQC end to end; compare with the frozen head")
    _dataset_flags(p)
    _head_flags(p)
    p.add_argument("--trainable-blocks", type=int, help="last backbone blocks trained end to end (default: 1)")

    p = _add(sub, "predict", _cmd_predict, "per-emotion probabilities of one clip from a saved model")
    p.add_argument("clip", metavar="CLIP", help="audio file (wav, flac, ogg, mp3)")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by `qser train --out`")

    p = _add(sub, "runs", _cmd_runs, "list recorded runs (MLflow)")
    p.add_argument("--limit", type=int, default=200, help="most recent runs to list")

    p = _add(sub, "compare", _cmd_compare, "paired significance tests between two recorded runs on the same clips")
    p.add_argument("run_a", metavar="RUN_A", help="run id (see `qser runs`)")
    p.add_argument("run_b", metavar="RUN_B", help="run id scored on the same test clips")
    p.add_argument("--metric", choices=["ua", "wa", "macro_f1"], default="ua", help="metric of the bootstrap difference")

    config = sub.add_parser("config", help="show the resolved configuration").add_subparsers(
        dest="config_command", metavar="ACTION", required=True)
    _add(config, "show", _cmd_config_show, "print the resolved configuration as TOML")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qser`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"qser: configuration error: {exc}", file=sys.stderr)
        return 2
    except QserError as exc:
        print(f"qser: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qser: interrupted; finished work is kept (caches and recorded runs)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``qser data demo|index|download`` and ``qser extract``: corpora and the embedding cache."""

from __future__ import annotations

import argparse
import sys

from qser_core.cli.common import TqdmProgress, add_command, check_out_folder, check_storage, config_from, counts_text, dataset_flags, emit, note_synthetic, pipeline_flags
from qser_core.config import DATASETS


def _cmd_data_demo(args: argparse.Namespace) -> int:
    from qser_core.data.demo import generate_demo_corpus

    check_out_folder(args.out, what="demo corpus")
    with TqdmProgress() as progress:
        out = generate_demo_corpus(args.out, n_speakers=args.speakers, seed=args.seed, progress=progress)
    n = len(list(out.glob("*.wav")))
    emit(args, {"out": str(out), "n_clips": n, "synthetic": True},
          f"wrote {n} SYNTHETIC eSpeak NG clips (CREMA-D file names) to {out}")
    return 0


def _cmd_data_index(args: argparse.Namespace) -> int:
    from qser_core.data.corpus import counts_by, index_corpus
    from qser_core.data.demo import is_demo_corpus

    corpus = index_corpus(args.folder, dataset=args.dataset)  # prints nothing itself: the summary is below
    table = corpus.table
    if is_demo_corpus(args.folder):
        print("qser: note: this folder is the SYNTHETIC eSpeak NG demo corpus", file=sys.stderr)
    result = {"n_clips": len(table), "n_speakers": int(table["speaker"].nunique()),
              "emotion": counts_by(table, "emotion").iloc[:, 0].to_dict(),
              "speaker": counts_by(table, "speaker").iloc[:, 0].to_dict(),
              "skipped": corpus.report.skipped, "dropped": corpus.report.dropped}
    emit(args, result, f"{corpus.report.summary()}\n\n{counts_text(table)}")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from qser_core.data.download import download_crema_d

    check_out_folder(args.out, what="download")
    with TqdmProgress() as progress:
        report = download_crema_d(args.out, workers=args.workers, progress=progress)
    result = {"out": str(args.out), "downloaded": report.downloaded, "skipped_complete": report.skipped_complete,
              "failed": report.failed}
    emit(args, result, report.summary())
    return 1 if report.failed else 0


def _cmd_extract(args: argparse.Namespace) -> int:
    config = config_from(args, **pipeline_flags(args))
    from qser_core.features.embeddings import cache_status
    from qser_core.experiments.pipeline import prepare

    note_synthetic(config)
    check_storage(config, track=False)  # before computing embeddings that could not be written
    with TqdmProgress() as progress:
        features = prepare(config, progress=progress)
    status = cache_status(features.table, config)
    report = features.corpus.report
    result = {"n_clips": len(features.table), "dim": int(features.embeddings.shape[1]),
              "backbone": config.embedding.backbone, "skipped": report.skipped, "dropped": report.dropped, **status}
    emit(args, result, f"{result['n_clips']} clips → {result['dim']}-d {result['backbone']} embeddings "
                        f"(cache: {status['folder']})")
    return 0


def register(sub) -> None:
    """Add ``qser data demo|index|download`` and ``qser extract``."""
    data = sub.add_parser("data", help="corpora: demo, index, download").add_subparsers(
        dest="data_command", metavar="ACTION", required=True)
    p = add_command(data, "demo", _cmd_data_demo, "write the synthetic eSpeak NG demo corpus (CREMA-D file names)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--speakers", type=int, default=12, help="synthetic speakers")
    p.add_argument("--seed", type=int, default=0, help="generation seed")
    p = add_command(data, "index", _cmd_data_index, "index a corpus folder; print per-emotion and per-speaker counts")
    p.add_argument("folder", metavar="DIR", help="corpus folder (manifest: the CSV file)")
    p.add_argument("--dataset", choices=DATASETS, default="crema-d", help="file-name convention")
    p = add_command(data, "download", _cmd_data_download, "download a corpus (CREMA-D from its GitHub LFS store)")
    p.add_argument("corpus", choices=["crema-d"], help="corpus to download")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--workers", type=int, default=8, help="parallel downloads")

    p = add_command(sub, "extract", _cmd_extract, "compute (or read from cache) the embeddings of a corpus")
    dataset_flags(p)

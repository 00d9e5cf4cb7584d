"""Shared pieces of the ``qser`` subcommands: config from flags, progress bars, output rendering."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from qser_core.config import ANSATZE, BACKBONES, DATASETS, ENCODINGS, HEAD_KINDS, QserConfig, load_config, nearest_existing, qser_home
from qser_core.errors import ConfigError, StorageError


class TqdmProgress:
    """``progress(done, total, message)`` callback drawing one tqdm bar on stderr."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        from tqdm import tqdm

        if total and done >= total:  # a finished stage: clear its bar (left open, its clock would tick on)
            self.close()
            return
        if self._bar is None or self._bar.total != total:
            self.close()
            self._bar = tqdm(total=total, file=sys.stderr, dynamic_ncols=True, leave=False)
        self._bar.set_description(message[:60])
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "TqdmProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also on errors, so the message is not printed behind a half-drawn bar


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """Print ``result`` as one JSON object with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(result, default=jsonable))
    else:
        print(text)


def jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: The dedicated flag of each config field (for "--qubits 4 wins over --set reduce.n_qubits=6").
FLAG_NAMES = {"data.dataset": "--dataset", "data.data_dir": "--data-dir", "embedding.backbone": "--backbone",
              "reduce.n_qubits": "--qubits", "head.kind": "--head", "head.ansatz": "--ansatz",
              "head.encoding": "--encoding", "head.n_layers": "--layers", "train.epochs": "--epochs",
              "data.n_folds": "--folds", "train.seeds": "--seeds", "train.trainable_blocks": "--trainable-blocks",
              "hardware.backend": "--backend", "hardware.shots": "--shots",
              "hardware.optimization_level": "--optimization-level", "hardware.instance": "--instance",
              "hardware.primitive": "--sampler", "hardware.resilience_level": "--resilience",
              "hardware.dynamical_decoupling": "--dd", "hardware.readout": "--readout",
              "hardware.transpile_trials": "--transpile-trials", "hardware.layout": "--layout",
              "hardware.clips": "--clips", "hardware.recalibrate": "--recalibrate",
              "hardware.noise_scale": "--noise-scale"}


def config_from(args: argparse.Namespace, **flag_overrides: Any) -> QserConfig:
    """Config file → ``--set`` overrides → dedicated flags (only those given).

    ``--set`` is validated on its own first, so a bad value is refused even where a flag replaces it;
    where a flag and ``--set`` name the same field with different values, the flag wins and a note says so.
    """
    sets = list(args.set or [])
    flags = {key: value for key, value in flag_overrides.items() if value is not None}
    config = load_config(args.config, sets + [f"{key}={value}" for key, value in flags.items()])
    set_keys = {item.partition("=")[0].strip(): item for item in sets}
    clashes = [key for key in flags if key in set_keys]
    if clashes:
        from_sets = load_config(args.config, sets)  # raises ConfigError for a bad --set value
        for key in clashes:
            section, field = key.split(".")
            if getattr(getattr(from_sets, section), field) != getattr(getattr(config, section), field):
                flag = " ".join(filter(None, (FLAG_NAMES.get(key, key), _flag_text(args, key, flags[key]))))
                print(f"qser: note: {flag} wins over "
                      f"--set {set_keys[key].strip()} (a flag overrides --set)", file=sys.stderr)
    return config


def _flag_text(args: argparse.Namespace, key: str, value: Any) -> str:
    if key == "train.seeds" and getattr(args, "seeds", None) is not None:
        return str(args.seeds)  # --seeds N means seeds 0..N-1
    if isinstance(value, bool) or key == "hardware.primitive":
        return ""  # a switch: its name says it all (--sampler, --dd)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _dataset_for(args: argparse.Namespace) -> str | None:
    """``--dataset``; else, for a ``--data-dir`` whose dataset neither ``--set`` nor ``--config`` chose,
    ``demo`` for a folder marked SYNTHETIC.txt and ``crema-d`` (the corpus the lab is built around) otherwise."""
    if args.dataset or not args.data_dir:
        return args.dataset
    if _chosen_dataset(args):
        return None  # chosen by --set data.dataset=... or the config file: keep it
    from qser_core.data.demo import is_demo_corpus

    return "demo" if is_demo_corpus(args.data_dir) else "crema-d"


def _chosen_dataset(args: argparse.Namespace) -> str | None:
    """The dataset ``--set`` or the ``--config`` file names (read before the full config is validated)."""
    for item in reversed(args.set or []):
        key, _, value = item.partition("=")
        if key.strip() == "data.dataset":
            return value.strip()
    if args.config:
        import tomllib

        try:
            return tomllib.loads(Path(args.config).read_text(encoding="utf-8")).get("data", {}).get("dataset")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            return None  # the full load reports what is wrong with the file
    return None


def pipeline_flags(args: argparse.Namespace) -> dict[str, Any]:
    seeds = getattr(args, "seeds", None)
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be at least 1 (it runs seeds 0..N-1); got {seeds}")
    dataset = _dataset_for(args)
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
        "train.seeds": ",".join(str(s) for s in range(seeds)) if seeds is not None else None,
    }


def note_synthetic(config: QserConfig) -> None:
    """Say plainly on stderr when results come from synthetic speech (dataset ``demo`` or a SYNTHETIC.txt folder)."""
    from qser_core.data.demo import is_synthetic

    if is_synthetic(config.data):
        where = "dataset 'demo'" if config.data.dataset == "demo" else f"folder {config.data.data_dir} (SYNTHETIC.txt)"
        print(f"qser: note: {where} is SYNTHETIC eSpeak NG speech made by the lab; numbers measured on it "
              "say nothing about human speech (use --dataset crema-d --data-dir DIR for real results)",
              file=sys.stderr)


def check_out_folder(out: str | os.PathLike, *, what: str = "output") -> Path:
    """Refuse an ``--out`` that cannot become a folder (an existing file, or a path below one) before any work."""
    path = Path(out).expanduser()
    parent = nearest_existing(path)
    if not parent.is_dir():
        where = "is" if parent == path else f"lies below {parent}, which is"
        raise ConfigError(f"--out {out} {where} an existing file, not a folder; give a folder for the {what} "
                          "(a new one is created)")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: cannot write in {parent}; give a folder you can write to")
    return path


#: Bytes one clip's embedding takes in the cache (2560 float32 plus index entry, rounded up): the space estimate.
CACHE_BYTES_PER_CLIP = 12_000
#: Bytes a saved model folder may take (reducer map, head weights, metrics), rounded up.
MODEL_BYTES = 5_000_000


def check_storage(config: QserConfig, *, track: bool, out: str | os.PathLike | None = None) -> None:
    """Refuse, before any work, a QSER_HOME (or ``--out``) that cannot take what the command will write.

    Checks that ``QSER_HOME`` is a folder (or can become one), that it can be written when the run is
    recorded or embeddings are missing from the cache, and that its disk has room for the missing
    embeddings (and ``out`` for a saved model). A read-only home whose cache is complete still works
    with ``--no-track``: reading writes nothing.

    Raises
    ------
    StorageError
        With the folder, what is wrong and what to do.
    """
    from qser_core.tracking.store import check_home_folder, sqlite_path, tracking_uri, writable

    home = qser_home()
    check_home_folder(home)
    db = sqlite_path(tracking_uri()) if track else None
    if db is not None and not writable(db.parent) and not _store_complete(db):
        raise StorageError(f"QSER_HOME {db.parent} is read-only: use --no-track or another QSER_HOME "
                           "(export QSER_HOME=DIR)")
    missing = _missing_embeddings(config, home)
    if missing and not writable(home):
        raise StorageError(f"QSER_HOME {home} is read-only and {missing} embeddings are not cached there yet: "
                           "use another QSER_HOME (export QSER_HOME=DIR) that can be written")
    _check_space(home, missing * CACHE_BYTES_PER_CLIP, f"the embeddings of {missing} clips")
    if out is not None:
        _check_space(Path(out), MODEL_BYTES, "the saved model")


def _store_complete(db: Path) -> bool:
    from qser_core.tracking.store import _initialised

    return db.exists() and _initialised(db) and os.access(db, os.W_OK)


def _missing_embeddings(config: QserConfig, home: Path) -> int:
    """Clips of the configured corpus without a cached embedding (all of them when the demo corpus is not made yet)."""
    from qser_core.features.embeddings import cache_status

    if config.data.dataset == "demo" and not config.data.data_dir:
        from qser_core.data.demo import demo_corpus_ready, demo_speakers
        from qser_core.tracking.store import writable

        if not demo_corpus_ready():  # the corpus itself must be written first (~70 kB of clips per clip)
            n_clips = demo_speakers() * 12 * 6
            if not writable(home):
                raise StorageError(f"QSER_HOME {home} is read-only and the demo corpus is not made yet: use another "
                                   "QSER_HOME (export QSER_HOME=DIR) that can be written")
            _check_space(home, n_clips * (70_000 + CACHE_BYTES_PER_CLIP), "the demo corpus and its embeddings")
            return n_clips
    from qser_core.data.corpus import load_corpus

    table = load_corpus(config.data, max_seconds=config.audio.max_seconds).table
    status = cache_status(table, config)
    if status["cached"] == status["total"]:
        return 0
    return _missing_by_content(table, Path(status["folder"]))


def _missing_by_content(table, folder: Path) -> int:
    """Clips whose content is not in the cache at all (a copied or touched clip is found by its content hash)."""
    from qser_core.features.cache import EmbeddingCache, content_hash, identities, table_paths

    if not (folder / "index.json").is_file():
        return len(table)
    cache = EmbeddingCache(folder)
    entries, known = cache.index["entries"], cache.by_content()
    paths = table_paths(table)
    return sum(1 for path, ident in zip(paths, identities(paths))
               if ident not in entries and content_hash(path) not in known)


def _check_space(folder: Path, need: int, what: str) -> None:
    """Refuse when the disk holding ``folder`` has less than ``need`` bytes free (10 % margin)."""
    import shutil

    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or need <= 0:
        return
    free = shutil.disk_usage(existing).free
    if free < need * 1.1:
        raise StorageError(f"no space left on {mount_point(existing)} for {what}: need ~{_mb(need)} MB, "
                           f"{_mb(free)} MB free; free some space or use another QSER_HOME")


def _mb(n: float) -> str:
    return f"{max(n / 1e6, 0.1):.0f}" if n >= 1e6 else f"{max(n / 1e6, 0.1):.1f}"


def mount_point(path: str | os.PathLike) -> Path:
    """The mount point of the file system holding ``path`` (``/`` at the latest)."""
    path = Path(os.path.abspath(path))
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def counts_text(table) -> str:
    from qser_core.data.corpus import counts_by

    return "\n\n".join(f"clips per {col}:\n{counts_by(table, col).to_string()}" for col in ("emotion", "speaker"))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the flag has one (None means: taken from the config)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    parser.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE",
                        help="override one config field; repeatable (e.g. --set head.n_layers=4)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def dataset_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, help="corpus (default from config: demo)")
    parser.add_argument("--data-dir", metavar="DIR", help="corpus folder (manifest: the CSV file)")
    parser.add_argument("--backbone", choices=BACKBONES, help="embedding backbone (default: efficientnet-lite0)")


def head_list(text: str) -> list[str]:
    """``--head logreg,quantum`` → ``["logreg", "quantum"]`` (argparse type)."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in HEAD_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise argparse.ArgumentTypeError(f"must be distinct comma-separated heads from {', '.join(HEAD_KINDS)}; "
                                         f"got {text!r}")
    return kinds


def qubit_list(text: str) -> list[int]:
    """``--layout 0,1,2,3`` → ``[0, 1, 2, 3]``: distinct physical qubit numbers (argparse type)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts) or len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"must be distinct physical qubit numbers, comma-separated (e.g. 0,1,2,3); "
                                         f"got {text!r}")
    return [int(p) for p in parts]


def count(text: str) -> int:
    """A whole number 0 or more (argparse type), e.g. ``--recalibrate N``."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more; got {text!r}")
    return int(text)


def head_flags(parser: argparse.ArgumentParser, *, head: str = "one") -> None:
    """Head and training flags; ``head`` is ``"one"`` (``--head KIND``), ``"several"`` (``--head A,B``) or ``"none"``."""
    parser.add_argument("--qubits", type=int, help="PCA components = qubits, 2-12 (default: 8)")
    if head == "one":
        parser.add_argument("--head", choices=HEAD_KINDS, help="head to train (default: quantum)")
    elif head == "several":
        parser.add_argument("--head", type=head_list, metavar="KIND[,KIND...]",
                            help=f"head(s) from {', '.join(HEAD_KINDS)}, comma-separated; several run on identical "
                                 "inputs with paired tests against quantum (default: quantum)")
    parser.add_argument("--ansatz", choices=ANSATZE, help="PQC ansatz (default: strong)")
    parser.add_argument("--encoding", choices=ENCODINGS, help="PQC data encoding (default: angle-ry)")
    parser.add_argument("--layers", type=int, help="ansatz layers, 1-8 (default: 2)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: 200, early stopping on validation UA)")
    parser.add_argument("--no-track", action="store_true", help="do not record the run with MLflow")


def add_command(sub, name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text,
                            formatter_class=HelpFormatter)
    parser.set_defaults(handler=handler)
    common_flags(parser)
    return parser

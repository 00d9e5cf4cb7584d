"""Corpora and emotion labels: indexing a folder or manifest into a table of usable clips.

``qser data index DIR --dataset crema-d`` indexes a folder and prints per-emotion and per-speaker counts.

:func:`index_corpus` turns a folder of clips (CREMA-D, RAVDESS, EmoDB, TESS file names) or a CSV
manifest into a :class:`Corpus`: one table row per usable clip, plus an :class:`IndexReport` of what
was skipped (empty, truncated, Git LFS pointer stubs, unreadable, misnamed) and which emotions outside
the six shared ones were dropped. Only headers are read here; decoding is :mod:`qser_core.data.audio`'s job.
The file-name conventions and file checks live in :mod:`qser_core.data.corpora`. The speaker-disjoint
splits (:class:`Split`, :func:`split_by_speaker`, :func:`speaker_folds`, which never put one speaker
in two parts) live in :mod:`qser_core.data.splits` and are re-exported here.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from qser_core.config import DATASETS, EMOTIONS, DataConfig
from qser_core.data.corpora import _PARSERS, OTHER_AUDIO, _audio_files, _check_audio, _Skip
from qser_core.errors import DataError
from qser_core.data.splits import Split, speaker_folds, split_by_speaker

__all__ = [
    "EMOTIONS",
    "COLUMNS",
    "Corpus",
    "IndexReport",
    "Split",
    "label_index",
    "index_corpus",
    "load_corpus",
    "require_emotions",
    "drop_unusable",
    "split_by_speaker",
    "speaker_folds",
    "counts_by",
    "corpus_summary",
]

_log = logging.getLogger(__name__)

#: Columns of :attr:`Corpus.table`, in order.
COLUMNS = ("path", "speaker", "emotion", "sentence", "intensity", "sex", "age")

# Every spelling of the six emotions that a file name or manifest may use (lower case).
_LABELS = {
    **{code.lower(): code for code in EMOTIONS},
    "anger": "ANG", "angry": "ANG",
    "disgust": "DIS", "disgusted": "DIS",
    "fear": "FEA", "fearful": "FEA", "afraid": "FEA", "scared": "FEA",
    "happy": "HAP", "happiness": "HAP", "joy": "HAP",
    "neutral": "NEU",
    "sadness": "SAD",
}


# ---------------------------------------------------------------------------- results
@dataclass
class IndexReport:
    """What indexing found besides the usable clips.

    Attributes
    ----------
    n_files : int
        Audio files seen (by extension) under the folder or in the manifest.
    n_clips : int
        Usable clips (rows of the table).
    skipped : list of (str, str)
        ``(path, reason)`` of files left out: misnamed, empty, truncated, LFS pointer, unreadable.
    dropped : dict of str to int
        Clips left out on purpose, by label: emotions outside :data:`EMOTIONS` (``"boredom"``,
        ``"calm"``, …) and RAVDESS songs (``"song"``).
    """

    n_files: int = 0
    n_clips: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def summary(self, *, max_listed: int = 10) -> str:
        """A few lines for people: counts, the dropped labels and the first skipped files with reasons."""
        n_dropped = sum(self.dropped.values())
        lines = [f"{self.n_clips} usable clips of {self.n_files} audio files; "
                 f"{len(self.skipped)} skipped, {n_dropped} dropped"]
        if self.dropped:
            lines.append("dropped (not one of the six emotions, or not speech): "
                         + ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())))
        for path, reason in self.skipped[:max_listed]:
            lines.append(f"skipped {path}: {reason}")
        if len(self.skipped) > max_listed:
            lines.append(f"… and {len(self.skipped) - max_listed} more skipped files")
        return "\n".join(lines)


@dataclass
class Corpus:
    """An indexed corpus: one row per usable clip (``table``) and the :class:`IndexReport`."""

    table: pd.DataFrame
    report: IndexReport
    dataset: str
    root: Path


# ---------------------------------------------------------------------------- labels
def label_index(emotions: Iterable[str]) -> np.ndarray:
    """Integer labels (indices into :data:`EMOTIONS`) of emotion codes.

    Parameters
    ----------
    emotions : iterable of str
        Codes from :data:`EMOTIONS`, e.g. ``table["emotion"]``.

    Returns
    -------
    np.ndarray [shape=(n,)], int64

    Raises
    ------
    DataError
        If a value is not one of the six codes.

    Examples
    --------
    >>> label_index(["NEU", "ANG", "SAD"]).tolist()
    [4, 0, 5]
    """
    values = np.asarray(list(emotions), dtype=object)
    lookup = {code: i for i, code in enumerate(EMOTIONS)}
    unknown = sorted({str(v) for v in values if v not in lookup})
    if unknown:
        raise DataError(f"emotion labels must be one of {', '.join(EMOTIONS)}; got {', '.join(unknown[:10])}; "
                        "index the corpus with qser_core.data.corpus.index_corpus, which maps and drops labels")
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


# ---------------------------------------------------------------------------- indexing
def index_corpus(root: str | os.PathLike, *, dataset: str = "crema-d", max_seconds: float = 60.0) -> Corpus:
    """Index a corpus folder (or a CSV manifest) into a table of usable clips.

    Parameters
    ----------
    root : str or path
        Folder searched recursively for clips; for ``dataset="manifest"`` the CSV file
        (columns ``path,label,speaker``, paths relative to the CSV).
    dataset : str, default="crema-d"
        File-name convention: ``demo``, ``crema-d``, ``ravdess``, ``emodb``, ``tess`` or ``manifest``.
    max_seconds : float, default=60.0
        Longer clips are skipped (``audio.max_seconds``); so are clips shorter than
        :data:`~qser_core.data.audio.MIN_SECONDS`: the same rule decoding applies.

    Returns
    -------
    Corpus
        ``table`` has the columns :data:`COLUMNS`, one row per usable clip, sorted by path.

    Raises
    ------
    DataError
        Unknown dataset, missing or empty folder, bad manifest, or no usable clip at all.

    Examples
    --------
    >>> corpus = index_corpus(folder, dataset="crema-d")  # doctest: +SKIP
    >>> print(corpus.report.summary())  # doctest: +SKIP
    """
    if dataset not in DATASETS:
        raise DataError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    root = Path(root).expanduser().resolve()
    if dataset == "manifest":
        records, report = _read_manifest(root, max_seconds)
    else:
        records, report = _read_folder(root, dataset, max_seconds)
    table = _make_table(records)
    if dataset in ("crema-d", "demo"):
        table = _join_demographics(table, root)
    report.n_clips = len(table)
    if table.empty:
        raise DataError(f"no usable clip in {root} (dataset {dataset!r}):\n{report.summary()}\n"
                        "check the --dataset naming convention, or download the corpus again")
    return Corpus(table=table, report=report, dataset=dataset, root=root)


def _read_folder(root: Path, dataset: str, max_seconds: float) -> tuple[list[dict], IndexReport]:
    parser, extensions = _PARSERS[dataset]
    if not root.exists():
        hint = "run `qser data download crema-d --out DIR`" if dataset == "crema-d" else "check the path"
        raise DataError(f"corpus folder {root} does not exist; {hint}, or use data.dataset=demo")
    if not root.is_dir():
        raise DataError(f"corpus path {root} is not a folder; give the folder that holds the clips"
                        " (a CSV needs data.dataset=manifest)")
    files, passed = _audio_files(root, extensions)
    if not files:
        other = f" ({len(passed)} other files or folders passed over, first: {passed[0][0]}: {passed[0][1]})" if passed else ""
        raise DataError(f"no {' or '.join(extensions)} files under {root}{other}; give the folder that holds the "
                        f"{dataset} clips (searched recursively)")
    report, dropped, records = IndexReport(n_files=len(files) + sum(Path(p).suffix.lower() in OTHER_AUDIO for p, _ in passed),
                                           skipped=list(passed)), Counter(), []
    for path in files:
        try:
            label, fields = parser(path.name)
        except _Skip as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        emotion = _LABELS.get(label.lower())
        if emotion is None:
            dropped[label] += 1
            continue
        problem = _check_audio(path, max_seconds=max_seconds)
        if problem:
            report.skipped.append((str(path), problem))
            continue
        records.append({"path": str(path), "emotion": emotion, **fields})
    report.dropped = dict(dropped)
    return records, report


def _read_manifest(csv_path: Path, max_seconds: float) -> tuple[list[dict], IndexReport]:
    if not csv_path.is_file():
        raise DataError(f"manifest {csv_path} does not exist or is not a file; give a CSV with columns "
                        "path,label,speaker (paths relative to the CSV)")
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"manifest {csv_path} is not a readable CSV ({exc}); "
                        "write one with a header row path,label,speaker") from exc
    missing = [c for c in ("path", "label", "speaker") if c not in frame.columns]
    if missing:
        raise DataError(f"manifest {csv_path} lacks the column(s) {', '.join(missing)}; it has "
                        f"{', '.join(map(str, frame.columns)) or 'none'}; columns path,label,speaker are required")
    paths = [(csv_path.parent / p).resolve() for p in frame["path"]]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise DataError(f"manifest {csv_path} lists {len(absent)} file(s) that do not exist: "
                        f"{', '.join(absent[:5])}{' …' if len(absent) > 5 else ''}; paths are relative to the CSV")
    report, dropped, records = IndexReport(n_files=len(frame)), Counter(), []
    for path, row in zip(paths, frame.to_dict("records")):
        emotion = _LABELS.get(row["label"].strip().lower())
        if emotion is None:
            dropped[row["label"].strip()] += 1
            continue
        if not str(row["speaker"]).strip():
            report.skipped.append((str(path), "empty speaker column"))
            continue
        problem = _check_audio(path, max_seconds=max_seconds)
        if problem:
            report.skipped.append((str(path), problem))
            continue
        extra = {k: row[k] for k in ("sentence", "intensity", "sex") if k in row}
        age = pd.to_numeric(row.get("age", ""), errors="coerce")
        records.append({"path": str(path), "emotion": emotion, "speaker": row["speaker"].strip(),
                        **extra, "age": float(age) if pd.notna(age) else np.nan})
    report.dropped = dict(dropped)
    return records, report


def _make_table(records: list[dict]) -> pd.DataFrame:
    defaults = {"sentence": "", "intensity": "", "sex": "", "age": np.nan}
    table = pd.DataFrame([{**defaults, **r} for r in records], columns=list(COLUMNS))
    for col in COLUMNS[:-1]:
        table[col] = table[col].astype(str)
    table["age"] = table["age"].astype(float)
    return table.sort_values("path", kind="stable").reset_index(drop=True)


def _join_demographics(table: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Fill ``sex`` and ``age`` from CREMA-D's VideoDemographics.csv in ``root`` or its parent."""
    csv = next((p for p in (root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv") if p.is_file()),
               None)
    if csv is None or table.empty:
        return table
    try:
        demo = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        warnings.warn(f"{csv} is not a readable CSV ({exc}); sex and age are left unknown", stacklevel=3)
        return table
    if not {"ActorID", "Age", "Sex"} <= set(demo.columns):
        warnings.warn(f"{csv} lacks ActorID, Age or Sex columns; sex and age are left unknown", stacklevel=3)
        return table
    demo["ActorID"] = demo["ActorID"].str.strip()
    demo = demo.drop_duplicates("ActorID").set_index("ActorID")
    sex = demo["Sex"].str.strip().str.capitalize().where(lambda s: s.isin(["Male", "Female"]), "")
    age = pd.to_numeric(demo["Age"], errors="coerce")
    table = table.copy()
    table["sex"] = table["speaker"].map(sex).fillna("").astype(str)
    table["age"] = table["speaker"].map(age).astype(float)
    return table


def load_corpus(data: DataConfig, *, max_seconds: float = 60.0) -> Corpus:
    """The corpus a :class:`~qser_core.config.DataConfig` names, checked for use in an experiment.

    ``dataset="demo"`` with an empty ``data_dir`` generates the synthetic demo corpus on first
    use (:func:`qser_core.data.demo.demo_corpus_dir`) and indexes it with the CREMA-D parser. Skipped
    files are logged as a warning with :meth:`IndexReport.summary` (what ``qser data index`` prints).

    Parameters
    ----------
    data : DataConfig
    max_seconds : float, default=60.0
        ``audio.max_seconds``: longer clips are skipped.

    Raises
    ------
    DataError
        As :func:`index_corpus`, and when fewer than two emotions have usable clips (a classifier
        of one emotion scores UA 0 or 1 whatever it learns).
    """
    if data.dataset == "demo" and not data.data_dir:
        from qser_core.data.demo import demo_corpus_dir  # lazy: generating the demo needs eSpeak NG

        corpus = index_corpus(demo_corpus_dir(), dataset="demo", max_seconds=max_seconds)
    else:
        corpus = index_corpus(data.data_dir, dataset=data.dataset, max_seconds=max_seconds)
    if corpus.report.skipped:  # every command that indexes says what it left out, as `qser data index` does
        _log.warning("%s", corpus.report.summary())
    require_emotions(corpus.table, source=f"{corpus.root} (dataset {corpus.dataset!r})")
    return corpus


def require_emotions(table: pd.DataFrame, *, source: str = "the corpus") -> None:
    """Refuse a table whose usable clips cover fewer than two emotions."""
    present = sorted(table["emotion"].unique()) if len(table) else []
    if len(present) < 2:
        counts = ", ".join(f"{e} {int((table['emotion'] == e).sum())}" for e in present) or "none"
        raise DataError(f"{source} has usable clips of {len(present)} emotion(s) ({counts}); emotion recognition "
                        f"needs at least two of {', '.join(EMOTIONS)}. Add clips of other emotions, or check the "
                        "--dataset naming convention (`qser data index DIR` lists what was skipped)")


def drop_unusable(corpus: Corpus, bad: Iterable[tuple[str, str]]) -> tuple[Corpus, np.ndarray]:
    """The corpus without the clips decoding could not use; they join ``report.skipped`` with their reasons.

    Indexing reads headers only, so a silent, constant, NaN-filled or corrupt clip is found when it
    is decoded (embedding extraction, the hybrid model's frozen front). Both hand what they skipped
    here: the updated summary (as ``qser data index`` prints it) is logged as a warning, and the
    returned report is what a run records (:meth:`~qser_core.tracking.recorder.RunRecorder.log_corpus`).

    Parameters
    ----------
    corpus : Corpus
    bad : iterable of (str, str)
        ``(path, reason)`` of the clips that could not be used.

    Returns
    -------
    corpus : Corpus
        A new corpus of the usable rows (the input is not modified).
    keep : np.ndarray [shape=(len(corpus.table),)], bool
        Which rows of the input table were kept (to subset arrays aligned with it).

    Raises
    ------
    DataError
        Fewer than two emotions keep usable clips.
    """
    import dataclasses

    bad = list(bad)
    keep = np.ones(len(corpus.table), dtype=bool)
    if bad:
        dropped = {os.path.abspath(p) for p, _ in bad}
        keep = np.array([os.path.abspath(str(p)) not in dropped for p in corpus.table["path"]], dtype=bool)
        table = corpus.table[keep].reset_index(drop=True)
        report = dataclasses.replace(corpus.report, skipped=[*corpus.report.skipped, *bad], n_clips=len(table))
        corpus = dataclasses.replace(corpus, table=table, report=report)
        _log.warning("%s", corpus.report.summary())  # indexing logged its part; this adds what decoding found
    require_emotions(corpus.table, source=f"{corpus.root} (dataset {corpus.dataset!r})")
    return corpus, keep


# ---------------------------------------------------------------------------- summaries
def counts_by(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Clip counts per value of ``column``: a ``clips`` column first, then one column per emotion.

    For ``column="emotion"`` the rows are :data:`EMOTIONS` (zeros kept) and the second column is
    ``speakers`` (distinct speakers with that emotion).
    """
    if column not in table.columns:
        raise DataError(f"column {column!r} is not in the table; columns are {', '.join(map(str, table.columns))}")
    if column == "emotion":
        grouped = table.groupby("emotion")
        out = pd.DataFrame({"clips": grouped.size(), "speakers": grouped["speaker"].nunique()})
        return out.reindex(list(EMOTIONS), fill_value=0).astype(int).rename_axis("emotion")
    cross = pd.crosstab(table[column].astype(str), table["emotion"]).reindex(columns=list(EMOTIONS), fill_value=0)
    cross.insert(0, "clips", cross.sum(axis=1))
    cross.columns.name = None
    return cross.astype(int).rename_axis(column)


def corpus_summary(table: pd.DataFrame) -> dict:
    """Counts for reports and the dashboard: clips, speakers, per emotion, per speaker, per sex."""
    per_speaker = table["speaker"].value_counts()
    return {
        "n_clips": int(len(table)),
        "n_speakers": int(table["speaker"].nunique()),
        "emotion": {k: int(v) for k, v in counts_by(table, "emotion")["clips"].items()},
        "speaker": {str(k): int(v) for k, v in per_speaker.sort_index().items()},
        "sex": {(str(k) or "unknown"): int(v) for k, v in table["sex"].value_counts().items()},
        "clips_per_speaker": {"min": int(per_speaker.min()), "max": int(per_speaker.max())} if len(table) else {},
    }

"""Corpora, emotion labels and speaker-disjoint splits.

``qser data index DIR --dataset crema-d`` indexes a folder and prints per-emotion and per-speaker counts.

:func:`index_corpus` turns a folder of clips (CREMA-D, RAVDESS, EmoDB, TESS file names) or a CSV
manifest into a :class:`Corpus`: one table row per usable clip, plus an :class:`IndexReport` of what
was skipped (empty, truncated, Git LFS pointer stubs, unreadable, misnamed) and which emotions outside
the six shared ones were dropped. Only headers are read here; decoding is :mod:`qser_core.audio`'s job.
:func:`split_by_speaker` and :func:`speaker_folds` never put one speaker in two parts.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import soundfile as sf

from qser_core.config import DATASETS, DataConfig
from qser_core.errors import DataError

__all__ = [
    "EMOTIONS",
    "COLUMNS",
    "Corpus",
    "IndexReport",
    "Split",
    "label_index",
    "index_corpus",
    "load_corpus",
    "split_by_speaker",
    "speaker_folds",
    "counts_by",
    "corpus_summary",
]

#: The six emotions shared by every corpus; integer labels index into this tuple.
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
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
_LFS_MAGIC = b"version https://git-lfs"


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


@dataclass
class Split:
    """Row positions into a corpus table; the three parts share no speaker.

    ``val`` is empty when no validation share was asked for.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


class _Skip(Exception):
    """A file is left out; the message is the reason shown in the report."""


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
                        "index the corpus with qser_core.data.index_corpus, which maps and drops labels")
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


# ---------------------------------------------------------------------------- file-name parsers
# Each parser takes a file name and returns (label, fields) or raises _Skip with the reason.
_CREMA = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_(LO|MD|HI|XX)\.wav$", re.IGNORECASE)
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$", re.IGNORECASE)
_EMODB = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])\.(wav|flac)$")
_TESS = re.compile(r"^(OAF|YAF)_([a-z]+)_([a-z_]+)\.wav$", re.IGNORECASE)

_RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                     "06": "fearful", "07": "disgust", "08": "surprised"}
_EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
                   "T": "sadness", "N": "neutral"}
# Sex and age of the ten EmoDB speakers (Burkhardt et al. 2005, speaker table).
_EMODB_SPEAKERS = {"03": ("Male", 31), "08": ("Female", 34), "09": ("Female", 21), "10": ("Male", 32),
                   "11": ("Male", 26), "12": ("Male", 30), "13": ("Female", 32), "14": ("Female", 35),
                   "15": ("Male", 25), "16": ("Female", 31)}
_TESS_SPEAKERS = {"OAF": ("Female", 64.0), "YAF": ("Female", 26.0)}


def _parse_crema(name: str) -> tuple[str, dict]:
    m = _CREMA.match(name)
    if not m:
        raise _Skip("file name does not follow CREMA-D's ActorID_SENTENCE_EMOTION_INTENSITY.wav "
                    "(e.g. 1001_DFA_ANG_XX.wav)")
    actor, sentence, emotion, intensity = m.groups()
    return emotion.upper(), {"speaker": actor, "sentence": sentence.upper(), "intensity": intensity.upper()}


def _parse_ravdess(name: str) -> tuple[str, dict]:
    m = _RAVDESS.match(name)
    if not m:
        raise _Skip("file name does not follow RAVDESS's MM-VV-EE-II-SS-RR-AA.wav (e.g. 03-01-05-02-01-01-12.wav)")
    modality, channel, emotion, intensity, statement, _, actor = m.groups()
    if modality != "03":
        raise _Skip(f"RAVDESS modality {modality} is not audio-only (03)")
    if emotion not in _RAVDESS_EMOTIONS:
        raise _Skip(f"RAVDESS emotion code {emotion} is not one of 01-08")
    label = "song" if channel == "02" else _RAVDESS_EMOTIONS[emotion]
    sex = "Male" if int(actor) % 2 else "Female"  # RAVDESS: odd actors are male, even female
    return label, {"speaker": actor, "sentence": statement,
                   "intensity": {"01": "normal", "02": "strong"}.get(intensity, intensity), "sex": sex}


def _parse_emodb(name: str) -> tuple[str, dict]:
    m = _EMODB.match(name)
    if not m:
        raise _Skip("file name does not follow EmoDB's SSTTTEV.wav|.flac (e.g. 03a01Fa.flac)")
    speaker, text, letter, _ = m.groups()[:4]
    sex, age = _EMODB_SPEAKERS.get(speaker, ("", np.nan))
    return _EMODB_EMOTIONS[letter], {"speaker": speaker, "sentence": text, "sex": sex, "age": float(age)}


def _parse_tess(name: str) -> tuple[str, dict]:
    m = _TESS.match(name)
    if not m:
        raise _Skip("file name does not follow TESS's OAF_word_emotion.wav / YAF_word_emotion.wav")
    speaker, word, emotion = m.group(1).upper(), m.group(2).lower(), m.group(3).lower()
    sex, age = _TESS_SPEAKERS[speaker]
    return emotion, {"speaker": speaker, "sentence": word, "sex": sex, "age": age}


_PARSERS: dict[str, tuple[Callable[[str], tuple[str, dict]], tuple[str, ...]]] = {
    "crema-d": (_parse_crema, (".wav",)),
    "demo": (_parse_crema, (".wav",)),
    "ravdess": (_parse_ravdess, (".wav",)),
    "emodb": (_parse_emodb, (".wav", ".flac")),
    "tess": (_parse_tess, (".wav",)),
}


# ---------------------------------------------------------------------------- cheap file checks
def _wav_data_end(head: bytes) -> int | None:
    """Byte offset where a RIFF/WAVE header says the sample data ends (None if it does not say).

    libsndfile clamps the frame count of a truncated WAV to what the file holds, so the
    declared size must be read from the ``data`` chunk header itself.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(head):
        chunk_id, size = head[offset:offset + 4], struct.unpack("<I", head[offset + 4:offset + 8])[0]
        if chunk_id == b"data":
            return None if size in (0, 0xFFFFFFFF) else offset + 8 + size
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def _check_audio(path: Path) -> str | None:
    """Why ``path`` is not a usable clip (None if it looks fine), from its header and size only."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty file (0 bytes): an interrupted download; download it again"
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if head.startswith(_LFS_MAGIC):
        return "Git LFS pointer stub, not audio: the repository was cloned without LFS; run `git lfs pull` " \
               "or `qser data download crema-d`"
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises its own error types for every unreadable file
        return f"not a readable audio file ({str(exc).split(': ')[-1]}); download it again"
    if info.frames <= 0:
        return "holds no audio frames"
    end = _wav_data_end(head) if info.format == "WAV" else None
    if end is not None and size < end:
        return f"truncated: the header declares {end} bytes, the file has {size}; an interrupted download, " \
               "download it again"
    return None


def _audio_files(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Audio files under ``root`` (recursive, hidden folders such as .git skipped), sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(folder, f) for f in files if not f.startswith(".") and f.lower().endswith(extensions))
    return sorted(found)


# ---------------------------------------------------------------------------- indexing
def index_corpus(root: str | os.PathLike, *, dataset: str = "crema-d") -> Corpus:
    """Index a corpus folder (or a CSV manifest) into a table of usable clips.

    Parameters
    ----------
    root : str or path
        Folder searched recursively for clips; for ``dataset="manifest"`` the CSV file
        (columns ``path,label,speaker``, paths relative to the CSV).
    dataset : str, default="crema-d"
        File-name convention: ``demo``, ``crema-d``, ``ravdess``, ``emodb``, ``tess`` or ``manifest``.

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
        records, report = _read_manifest(root)
    else:
        records, report = _read_folder(root, dataset)
    table = _make_table(records)
    if dataset in ("crema-d", "demo"):
        table = _join_demographics(table, root)
    report.n_clips = len(table)
    if table.empty:
        raise DataError(f"no usable clip in {root} (dataset {dataset!r}):\n{report.summary()}\n"
                        "check the --dataset naming convention, or download the corpus again")
    return Corpus(table=table, report=report, dataset=dataset, root=root)


def _read_folder(root: Path, dataset: str) -> tuple[list[dict], IndexReport]:
    parser, extensions = _PARSERS[dataset]
    if not root.exists():
        hint = "run `qser data download crema-d --out DIR`" if dataset == "crema-d" else "check the path"
        raise DataError(f"corpus folder {root} does not exist; {hint}, or use data.dataset=demo")
    if not root.is_dir():
        raise DataError(f"corpus path {root} is not a folder; give the folder that holds the clips"
                        " (a CSV needs data.dataset=manifest)")
    files = _audio_files(root, extensions)
    if not files:
        raise DataError(f"no {' or '.join(extensions)} files under {root}; give the folder that holds the "
                        f"{dataset} clips (searched recursively)")
    report, dropped, records = IndexReport(n_files=len(files)), Counter(), []
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
        problem = _check_audio(path)
        if problem:
            report.skipped.append((str(path), problem))
            continue
        records.append({"path": str(path), "emotion": emotion, **fields})
    report.dropped = dict(dropped)
    return records, report


def _read_manifest(csv_path: Path) -> tuple[list[dict], IndexReport]:
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
        problem = _check_audio(path)
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


def load_corpus(data: DataConfig) -> Corpus:
    """The corpus a :class:`~qser_core.config.DataConfig` names.

    ``dataset="demo"`` with an empty ``data_dir`` generates the synthetic demo corpus on first
    use (:func:`qser_core.demo.demo_corpus_dir`) and indexes it with the CREMA-D parser.
    """
    if data.dataset == "demo" and not data.data_dir:
        from qser_core.demo import demo_corpus_dir  # lazy: generating the demo needs eSpeak NG

        return index_corpus(demo_corpus_dir(), dataset="demo")
    return index_corpus(data.data_dir, dataset=data.dataset)


# ---------------------------------------------------------------------------- splits
def _group_parts(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int, *,
                 n_candidates: int = 4) -> list[np.ndarray]:
    """Row positions of each part of a stratified, group-disjoint K-fold split.

    Hand-written on purpose: sklearn's ``StratifiedGroupKFold(shuffle=True)`` only shuffles groups
    that tie on the spread of their class counts, so on real corpora (EmoDB: every seed alike) the
    seed does not change the folds. This keeps its greedy rule (each speaker joins the part that
    keeps per-emotion shares most even, measured as in sklearn: mean over classes of the std of
    each part's share of the class; ties go to the smaller part), visits speakers largest first
    with a seeded ±30 % jitter, and keeps the most even of ``n_candidates`` seeded assignments.
    Every part gets at least one speaker.
    """
    rng = np.random.default_rng(seed)
    _, y_inv = np.unique(y, return_inverse=True)
    _, g_inv = np.unique(groups, return_inverse=True)
    counts = np.zeros((g_inv.max() + 1, y_inv.max() + 1))
    np.add.at(counts, (g_inv, y_inv), 1)
    totals = counts.sum(axis=0)
    best, best_score = None, np.inf
    for _ in range(n_candidates):
        assign = _greedy_assign(counts, totals, n_splits, rng)
        per_part = np.stack([counts[assign == i].sum(axis=0) for i in range(n_splits)])
        score = np.mean(np.std(per_part / totals, axis=0))
        if score < best_score - 1e-12:
            best, best_score = assign, score
    return [np.flatnonzero(best[g_inv] == i) for i in range(n_splits)]


def _greedy_assign(counts: np.ndarray, totals: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Part index of each group (row of ``counts``, groups × classes), by one seeded greedy pass."""
    n_groups = len(counts)
    order = np.argsort(-counts.sum(axis=1) * rng.uniform(0.7, 1.3, n_groups), kind="stable")
    parts = np.zeros((n_splits, counts.shape[1]))
    assign = np.empty(n_groups, dtype=np.int64)
    trial = np.eye(n_splits)[:, :, None]  # trial[i] adds a group to part i only
    for left, g in zip(range(n_groups, 0, -1), order):
        empty = np.flatnonzero(parts.sum(axis=1) == 0)
        allowed = empty if left <= len(empty) else np.arange(n_splits)  # keep enough groups for empty parts
        spread = np.mean(np.std((parts[None] + trial * counts[g]) / totals, axis=1), axis=1)[allowed]
        sizes = parts.sum(axis=1)[allowed]
        pick = allowed[np.lexsort((sizes, np.round(spread, 12)))[0]]
        parts[pick] += counts[g]
        assign[g] = pick
    return assign


def _speakers_and_labels(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("speaker", "emotion") if c not in table.columns]
    if missing:
        raise DataError(f"the table lacks the column(s) {', '.join(missing)}; pass Corpus.table from index_corpus")
    return table["speaker"].astype(str).to_numpy(), table["emotion"].astype(str).to_numpy()


def _too_few(n_speakers: int, need: int, what: str, fix: str) -> DataError:
    return DataError(f"{what} needs at least {need} speakers; the table has {n_speakers}; {fix}")


def _draw_val(y: np.ndarray, groups: np.ndarray, rest: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Validation rows drawn from ``rest`` (whole speakers, about ``share`` of them)."""
    n_rest = len(np.unique(groups[rest]))
    if n_rest < 2:
        raise _too_few(n_rest, 2, "a validation part next to the training part",
                       "use a corpus with more speakers or set data.val_fraction=0")
    n_splits = min(max(2, round(1.0 / share)), n_rest)
    return rest[_group_parts(y[rest], groups[rest], n_splits, seed)[0]]


def split_by_speaker(table: pd.DataFrame, *, val_fraction: float = 0.15, test_fraction: float = 0.2,
                     seed: int = 0) -> Split:
    """One speaker-disjoint train/validation/test split, stratified by emotion.

    Parameters
    ----------
    table : pandas.DataFrame
        Corpus table with ``speaker`` and ``emotion`` columns.
    val_fraction : float, default=0.15
        Share of speakers for validation (0 for none), drawn from the non-test speakers.
    test_fraction : float, default=0.2
        Share of speakers for the test part (one part of a stratified ``round(1/test_fraction)``-fold split).
    seed : int, default=0
        Seed of the speaker assignment; the same seed gives the same split.

    Returns
    -------
    Split

    Raises
    ------
    DataError
        Fractions out of range, or too few speakers for three (two without validation) parts.
    """
    groups, y = _speakers_and_labels(table)
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DataError(f"test_fraction must be in (0, 1) and val_fraction in [0, 1) with a sum below 1; "
                        f"got test_fraction={test_fraction}, val_fraction={val_fraction}")
    n_speakers = len(np.unique(groups))
    need = 3 if val_fraction > 0 else 2
    if n_speakers < need:
        what = "a speaker-disjoint train/val/test split" if val_fraction > 0 else "a speaker-disjoint train/test split"
        fix = "use a corpus with more speakers" + (" or set data.val_fraction=0" if val_fraction > 0 else "")
        raise _too_few(n_speakers, need, what, fix)
    # Fewer speakers than 1/test_fraction parts: one speaker per part, so validation and training keep some.
    n_test_splits = min(max(2, round(1.0 / test_fraction)), n_speakers)
    test = _group_parts(y, groups, n_test_splits, seed)[0]
    rest = np.setdiff1d(np.arange(len(y)), test)
    val = (_draw_val(y, groups, rest, val_fraction / (1 - test_fraction), seed) if val_fraction > 0
           else np.array([], dtype=np.int64))
    return Split(train=np.setdiff1d(rest, val).astype(np.int64), val=val.astype(np.int64), test=test.astype(np.int64))


def speaker_folds(table: pd.DataFrame, *, n_folds: int = 5, val_fraction: float = 0.15, seed: int = 0) -> list[Split]:
    """Speaker-disjoint cross-validation folds, stratified by emotion.

    Each fold's test speakers are one part of a stratified group K-fold (sklearn's
    ``StratifiedGroupKFold`` rule, with a seed that matters; see ``_group_parts``); its validation
    speakers (about ``val_fraction`` of all speakers) are drawn from the other parts the same way.

    Parameters
    ----------
    table : pandas.DataFrame
        Corpus table with ``speaker`` and ``emotion`` columns.
    n_folds : int, default=5
        Number of folds; every speaker is in exactly one fold's test part.
    val_fraction : float, default=0.15
        Share of speakers for validation in each fold (0 for none).
    seed : int, default=0
        Seed of the speaker assignment.

    Returns
    -------
    list of Split
        ``n_folds`` splits.

    Raises
    ------
    DataError
        ``n_folds`` below 2, or fewer speakers than the folds need.
    """
    groups, y = _speakers_and_labels(table)
    if n_folds < 2:
        raise DataError(f"n_folds must be at least 2; got {n_folds}")
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1); got {val_fraction}")
    n_speakers = len(np.unique(groups))
    need = n_folds + (1 if val_fraction > 0 else 0)
    if n_speakers < need:
        raise _too_few(n_speakers, need, f"{n_folds} speaker-disjoint folds"
                       + (" with a validation part" if val_fraction > 0 else ""),
                       f"lower data.n_folds (at most {n_speakers - need + n_folds}) or use a corpus with more speakers")
    positions = np.arange(len(y))
    folds = []
    for i, test in enumerate(_group_parts(y, groups, n_folds, seed)):
        rest = np.setdiff1d(positions, test)
        val = (_draw_val(y, groups, rest, val_fraction / (1 - 1 / n_folds), seed + i) if val_fraction > 0
               else np.array([], dtype=np.int64))
        folds.append(Split(train=np.setdiff1d(rest, val).astype(np.int64), val=np.sort(val).astype(np.int64),
                           test=test.astype(np.int64)))
    return folds


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

"""File-name conventions of the supported corpora and cheap file checks.

Used by :func:`qser_core.data.corpus.index_corpus`. A parser per naming convention (CREMA-D, RAVDESS,
EmoDB, TESS; the demo corpus follows CREMA-D) turns a file name into the raw emotion label and the
table fields it encodes (speaker, sentence, intensity, sex, age), or raises ``_Skip`` with the
reason the file is left out. The file checks read only a header and the file size: empty,
truncated, Git LFS pointer stubs and unreadable files are caught here, without decoding audio.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from qser_core.data.audio import duration_problem, wav_data_end

__all__: list[str] = []  # every name here is internal to qser_core.data.corpus (its index_corpus is the API)

_LFS_MAGIC = b"version https://git-lfs"


class _Skip(Exception):
    """A file is left out; the message is the reason shown in the report."""


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
def _check_audio(path: Path, *, max_seconds: float = 60.0) -> str | None:
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
    except Exception as exc:  # noqa: BLE001 - libsndfile raises its own error types for every unreadable file
        return f"not a readable audio file ({str(exc).split(': ')[-1]}); download it again"
    if info.frames <= 0:
        return "holds no audio frames"
    if problem := duration_problem(info.frames, info.samplerate, max_seconds=max_seconds):
        return problem  # the rule decoding applies, so indexing and extraction agree
    end = wav_data_end(head) if info.format == "WAV" else None
    if end is not None and size < end:
        return f"truncated: the header declares {end} bytes, the file has {size}; an interrupted download, " \
               "download it again"
    return None


#: Audio formats that a folder corpus may hold beside its clips but that its convention does not read.
OTHER_AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a", ".opus")


def _audio_files(root: Path, extensions: tuple[str, ...]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files under ``root`` (recursive, hidden folders such as .git skipped), sorted, and what was passed over.

    The second list holds ``(path, reason)`` for each sub-folder that cannot be read and each audio file of
    another format than ``extensions`` (a FLAC beside the WAVs of a WAV-only corpus), so none is left out silently.
    """
    found, passed = [], []

    def unreadable(exc: OSError) -> None:
        passed.append((str(exc.filename), f"folder cannot be read ({exc.strerror}); its clips are left out"))

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            suffix = Path(name).suffix.lower()
            if suffix in extensions:
                found.append(Path(folder, name))
            elif suffix in OTHER_AUDIO:
                reason = (f"{suffix} audio is not read for this corpus (it takes {' or '.join(extensions)}); "
                          f"convert it, e.g. ffmpeg -i IN{suffix} OUT.wav")
                passed.append((str(Path(folder, name)), reason))
    return sorted(found), sorted(passed)

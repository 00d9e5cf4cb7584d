"""Audio loading: read, mix to mono, resample, trim silence, crop or pad.

``qser extract`` and the dashboard's live demo load every clip through :func:`load_audio`
(one file) or :func:`load_batch` (many files, decoded in a thread pool).

Every clip becomes a float32 waveform ``y`` of exactly ``round(sr * duration)`` samples:

1. :func:`read_audio` decodes the file (soundfile; ``librosa.load`` as a fallback for
   formats libsndfile cannot read, such as m4a or webm through ffmpeg), refuses files
   longer than ``max_seconds`` from the header before decoding, mixes to mono and
   resamples with soxr ("soxr_hq", what ``librosa.resample`` uses by default).
2. :func:`fix_length` trims leading and trailing silence (frames ``top_db`` below the
   loudest frame, exactly as ``librosa.effects.trim``) and centre-crops or zero-pads.

Bad input (missing, empty, non-audio, truncated, silent, constant (DC), shorter than
:data:`MIN_SECONDS` or longer than ``max_seconds``, NaN/inf samples) raises
:class:`~qser_core.errors.AudioError` naming the file.

Why not call librosa for steps 1-2: ``librosa.resample`` and ``librosa.effects.trim`` live in
modules whose import compiles numba gufuncs eagerly (about 10 s on a fresh machine, ~1 s
with a warm numba cache). ``librosa.resample(res_type="soxr_hq")`` is a thin wrapper around
``soxr.resample``, which we call directly, and :func:`trim_silence` is a vectorised numpy
copy of ``librosa.effects.trim`` (tests check both give the same result).
"""

from __future__ import annotations

import errno
import io
import os
import stat as stat_module
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Sequence, Union

import numpy as np
import soundfile as sf
import soxr

from qser_core.errors import AudioError
from qser_core.progress import Progress

__all__ = [
    "SILENCE_PEAK",
    "MIN_SECONDS",
    "duration_problem",
    "check_waveform",
    "load_audio",
    "read_audio",
    "fix_length",
    "trim_silence",
    "load_batch",
    "load_batches",
    "unusable_clips_error",
    "audio_kwargs",
    "wav_data_end",
]

AudioSource = Union[str, os.PathLike, BinaryIO, bytes, bytearray, memoryview]

#: Peak amplitude (full scale = 1.0) below which a whole clip counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: Shortest clip accepted (s): a spoken emotion needs at least a syllable; 1 ms clips gave confident predictions.
MIN_SECONDS = 0.1

# Magic bytes of containers libsndfile reads: a file that starts like one of these but
# fails to decode is corrupt or truncated, and ffmpeg would not do better.
_SNDFILE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_SNDFILE_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".rf64", ".caf"}


# ----------------------------------------------------------------------- reading
def _describe(source: Any) -> str:
    """The name error messages use for ``source``."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    name = getattr(source, "name", None)
    if isinstance(name, (str, os.PathLike)) and str(name):
        return str(name)
    return "<in-memory audio>"


def _source_bytes(source: Any, label: str) -> io.BytesIO:
    """Whole content of a buffer or file-like object, read from its start (position restored)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if not hasattr(source, "read"):
        raise AudioError(
            f"audio source {label} has type {type(source).__name__}; pass a path, bytes or a binary file-like object"
        )
    position = None
    if getattr(source, "seekable", lambda: False)():
        position = source.tell()
        source.seek(0)
    data = source.read()
    if position is not None:
        source.seek(position)
    if isinstance(data, str):
        raise AudioError(f"audio file {label} was opened in text mode; open it with mode 'rb'")
    return io.BytesIO(data)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _file_head(path: Path, label: str) -> tuple[int, bytes]:
    """Size and first 64 KiB of an audio file; :class:`AudioError` saying why they cannot be read."""
    try:
        stat = path.stat()
        if not stat_module.S_ISREG(stat.st_mode):
            raise AudioError(f"audio file {label} is not a file; pass the path of one audio clip")
        if stat.st_size == 0:
            raise AudioError(f"audio file {label} is empty (0 bytes); re-download or remove it")
        with open(path, "rb") as fh:
            return stat.st_size, fh.read(65536)
    except FileNotFoundError:
        raise AudioError(f"audio file {label} does not exist; check the path (or re-index the corpus)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioError(f"audio file {label} is a symbolic link loop (it points back to itself); "
                             "replace the link with the clip it should point to") from None
        if isinstance(exc, IsADirectoryError):
            raise AudioError(f"audio file {label} is not a file; pass the path of one audio clip") from None
        raise AudioError(f"audio file {label} cannot be read ({exc.strerror}); check its permissions "
                         "(chmod a+r) or copy the clip somewhere readable") from None


def _decode(source: Any, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode to float32 ``(frames, channels)`` and the native rate; AudioError on failure."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        size, head = _file_head(path, label)
        handle: Any = path
        if not _utf8(str(path)):  # a name that is not UTF-8 (Latin-1 bytes): libsndfile cannot take it, its bytes can
            handle = io.BytesIO(path.read_bytes())
        suffix = path.suffix.lower()
    else:
        handle = _source_bytes(source, label)
        if handle.getbuffer().nbytes == 0:
            raise AudioError(f"audio file {label} is empty (0 bytes); record or upload the clip again")
        suffix = Path(label).suffix.lower()
        size = handle.getbuffer().nbytes
        head = handle.getvalue()[:65536]

    try:
        info = sf.info(handle)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if head.startswith(_SNDFILE_MAGIC) or suffix in _SNDFILE_SUFFIXES:
            raise AudioError(
                f"audio file {label} cannot be decoded ({exc}); it is corrupt, truncated or not audio. "
                "Allowed: readable WAV, FLAC, OGG or MP3; re-export or re-download the file"
            ) from None
        return _decode_fallback(handle, label, max_seconds)

    end = wav_data_end(head)
    missing = max(0, end - size) if end is not None else 0
    if missing > 0:
        raise AudioError(
            f"audio file {label} is truncated: its WAV header declares {missing} more bytes of audio than "
            "the file holds; re-download or re-export it"
        )
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"audio file {label} holds no audio frames; re-record or remove it")
    problem = duration_problem(info.frames, info.samplerate, max_seconds=max_seconds)
    if problem:
        raise AudioError(f"audio file {label} {problem}")
    if isinstance(handle, io.BytesIO):
        handle.seek(0)
    try:
        y, sr = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            f"audio file {label} is corrupt or truncated ({exc}); re-export or re-download it"
        ) from None
    if y.shape[0] == 0:
        raise AudioError(f"audio file {label} holds no audio frames; re-record or remove it")
    return y, int(sr)


def duration_problem(frames: int, sr: int, *, max_seconds: float = 60.0) -> str | None:
    """Why a clip of ``frames`` samples at ``sr`` Hz is too short or too long (``None`` if neither).

    Indexing (from the header) and decoding use this one rule, so both agree on what is usable.

    Examples
    --------
    >>> duration_problem(16, 16000)
    'is 0.001 s long; at least MIN_SECONDS=0.1 s is needed (a clip this short holds no speech): remove it'
    >>> duration_problem(16000, 16000) is None
    True
    """
    seconds = frames / sr
    if seconds < MIN_SECONDS:
        return (f"is {seconds:.3g} s long; at least MIN_SECONDS={MIN_SECONDS:g} s is needed (a clip this short "
                "holds no speech): remove it")
    if seconds > max_seconds:
        return (f"is {seconds:.1f} s long; at most max_seconds={max_seconds:g} s is allowed "
                "(one utterance per file): cut it into clips or raise audio.max_seconds")
    return None


def wav_data_end(head: bytes) -> int | None:
    """Byte offset where a RIFF/WAVE header says the sample data ends (None if it does not say).

    libsndfile silently shortens a cut-off WAV to what is there, so the size the ``data`` chunk
    declares is read from the header itself (corpus indexing and :func:`read_audio` both check it).

    Parameters
    ----------
    head : bytes
        The first few kilobytes of the file.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk, length = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            return None if length in (0, 0xFFFFFFFF) else pos + 8 + length  # 0 / max: streaming writers
        pos += 8 + length + (length & 1)  # chunks are padded to an even length
    return None


def check_waveform(y: np.ndarray, *, sr: int, label: str = "the waveform", max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples of ``y`` if they can be used; :class:`AudioError` saying why not.

    The checks every decoded clip passes, also for waveforms that never were files (a live recording).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
    sr : int
        Its sampling rate (Hz), for the length check.
    label : str, default="the waveform"
        Names it in messages (e.g. ``"audio file x.wav"``).
    max_seconds : float or None, default=None
        Longest accepted; ``None`` checks only the shortest (:data:`MIN_SECONDS`).

    Raises
    ------
    AudioError
        NaN or infinite samples, silent (peak below :data:`SILENCE_PEAK`), constant (DC), too short or long.
    """
    y2d = np.asarray(y, dtype=np.float32)
    y2d = y2d[:, None] if y2d.ndim == 1 else y2d
    if not np.isfinite(y2d).all():
        bad = int(np.size(y2d) - np.count_nonzero(np.isfinite(y2d)))
        raise AudioError(f"{label} contains {bad} NaN or infinite samples; only finite samples are allowed: "
                         "re-export the file")
    problem = duration_problem(y2d.shape[0], sr, max_seconds=max_seconds if max_seconds is not None else np.inf)
    if problem:
        raise AudioError(f"{label} {problem}")
    y = y2d.mean(axis=1, dtype=np.float32) if y2d.shape[1] > 1 else y2d[:, 0]
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK and float(np.max(np.abs(y2d))) >= SILENCE_PEAK:
        raise AudioError(f"{label} has sound in its {y2d.shape[1]} channels (peak {float(np.max(np.abs(y2d))):.2g}) "
                         "but they cancel when mixed to mono (one channel is the other inverted); keep one channel "
                         "(e.g. ffmpeg -i IN -af pan=mono|c0=c0 OUT.wav) or fix the wiring")
    if peak < SILENCE_PEAK:
        raise AudioError(f"{label} is silent (peak {peak:.2g}, below {SILENCE_PEAK:g} full scale); "
                         "check the microphone or remove the clip")
    if float(np.ptp(y)) < SILENCE_PEAK:  # a constant offset (DC) has a peak but no sound
        raise AudioError(f"{label} is a constant signal (DC offset {float(y[0]):.3g}, no variation); it holds no "
                         "sound: check the recording or remove the clip")
    return y


def _decode_fallback(handle: Any, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """``librosa.load`` (audioread/ffmpeg) for containers libsndfile does not know (m4a, webm, ...)."""
    tmp_path = None
    try:
        if isinstance(handle, io.BytesIO):  # audioread needs a real file
            fd, tmp_path = tempfile.mkstemp(suffix=Path(label).suffix or ".bin")
            with os.fdopen(fd, "wb") as fh:
                fh.write(handle.getvalue())
            target = tmp_path
        else:
            target = str(handle)
        import librosa  # deferred: slow import, only needed for exotic formats

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Decode at most a little past max_seconds so a long file is refused without reading it all.
            y, sr = librosa.load(target, sr=None, mono=False, duration=max_seconds + 1.0)
    except Exception as exc:  # noqa: BLE001 - audioread raises a zoo of backend-specific errors
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else "no decoder recognised it"
        raise AudioError(
            f"audio file {label} is not readable audio ({reason}); "
            "allowed: WAV, FLAC, OGG, MP3 (or formats ffmpeg decodes); convert it to WAV"
        ) from None
    finally:
        if tmp_path is not None:
            os.unlink(tmp_path)
    y = np.atleast_2d(np.asarray(y, dtype=np.float32)).T  # (frames, channels)
    if y.shape[0] == 0:
        raise AudioError(f"audio file {label} holds no audio frames; re-record or remove it")
    if y.shape[0] / sr < MIN_SECONDS:
        raise AudioError(f"audio file {label} {duration_problem(y.shape[0], sr, max_seconds=max_seconds)}")
    if y.shape[0] / sr > max_seconds:
        raise AudioError(
            f"audio file {label} is longer than max_seconds={max_seconds:g} s (one utterance per file); "
            "cut it into clips or raise audio.max_seconds"
        )
    return y, int(sr)


def read_audio(
    path_or_file: AudioSource, *, sr: int | None = None, max_seconds: float = 60.0
) -> tuple[np.ndarray, int]:
    """Decode an audio file to a mono float32 waveform, resampled to ``sr`` if given.

    Parameters
    ----------
    path_or_file : str, os.PathLike, bytes or binary file-like
        A path, raw bytes, or an open binary buffer (``st.audio_input`` / ``st.file_uploader``
        results work as is; the whole buffer is read from its start and its position restored).
    sr : int or None, default=None
        Target sampling rate (Hz); ``None`` keeps the file's own rate.
    max_seconds : float, default=60.0
        Longest file accepted, checked from the header before decoding.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono waveform (channels averaged), full scale ±1.
    sr : int
        Its sampling rate.

    Raises
    ------
    AudioError
        Missing, empty, non-audio, corrupt or truncated file; longer than ``max_seconds``;
        NaN or infinite samples; silent (peak below :data:`SILENCE_PEAK`).

    Examples
    --------
    >>> import io, numpy as np, soundfile as sf
    >>> buf = io.BytesIO()
    >>> tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(8000) / 8000)
    >>> sf.write(buf, np.stack([tone, tone], axis=1), 8000, format="WAV")
    >>> y, sr = read_audio(buf, sr=16000)
    >>> y.shape, sr
    ((16000,), 16000)
    """
    label = _describe(path_or_file)
    y2d, native_sr = _decode(path_or_file, label, max_seconds)
    y = check_waveform(y2d, sr=native_sr, label=f"audio file {label}")
    if sr is not None and int(sr) != native_sr:
        # Same call as librosa.resample(y, orig_sr, target_sr, res_type="soxr_hq"); see module docstring.
        y = soxr.resample(y, native_sr, int(sr), quality="soxr_hq").astype(np.float32, copy=False)
        native_sr = int(sr)
    return np.ascontiguousarray(y, dtype=np.float32), native_sr


# ------------------------------------------------------------- trimming, length
def trim_silence(
    y: np.ndarray, *, top_db: float = 40.0, frame_length: int = 2048, hop_length: int = 512
) -> tuple[np.ndarray, tuple[int, int]]:
    """Cut leading and trailing frames quieter than ``top_db`` below the loudest frame.

    Same result as ``librosa.effects.trim(y, top_db=top_db, frame_length=..., hop_length=...)``
    (centred frames, zero padding, RMS in dB relative to the maximum), computed with
    cumulative sums so that no numba-compiled librosa module is imported.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform.
    top_db : float, default=40.0
        Frames more than this many dB below the loudest frame count as silence.
    frame_length, hop_length : int, default=2048, 512
        Analysis frame and hop (samples), librosa's defaults.

    Returns
    -------
    y_trimmed : np.ndarray [shape=(m,)]
    interval : tuple of int
        ``(start, end)`` with ``y_trimmed = y[start:end]``.
    """
    n = y.shape[-1]
    half = frame_length // 2
    power = np.square(y, dtype=np.float64)
    csum = np.concatenate(([0.0], np.cumsum(power)))
    n_frames = 1 + n // hop_length
    # Frame k covers padded[k*hop : k*hop + frame_length], i.e. y[k*hop - half : k*hop + half].
    centres = np.arange(n_frames) * hop_length
    lo = np.clip(centres - half, 0, n)
    hi = np.clip(centres - half + frame_length, 0, n)
    frame_power = (csum[hi] - csum[lo]) / frame_length
    amin = 1e-10  # librosa's amplitude_to_db amin=1e-5, squared
    db = 10.0 * np.log10(np.maximum(frame_power, amin))
    db -= 10.0 * np.log10(max(float(frame_power.max(initial=0.0)), amin))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return y[:0], (0, 0)
    start = int(loud[0] * hop_length)
    end = min(n, int((loud[-1] + 1) * hop_length))
    return y[start:end], (start, end)


def fix_length(y: np.ndarray, *, sr: int, duration: float, top_db: float | None = 40.0) -> np.ndarray:
    """Trim silence, then centre-crop or zero-pad (both sides equally) to ``round(sr * duration)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform at ``sr``.
    sr : int
        Its sampling rate (Hz).
    duration : float
        Target length (s).
    top_db : float or None, default=40.0
        Silence threshold for :func:`trim_silence`; ``None`` skips trimming.

    Returns
    -------
    np.ndarray [shape=(round(sr * duration),), dtype=float32]
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AudioError(f"fix_length needs a mono waveform of shape (n,); got shape {y.shape}")
    if top_db is not None:
        y, _ = trim_silence(y, top_db=top_db)
    target = int(round(sr * duration))
    n = y.shape[0]
    if n >= target:
        start = (n - target) // 2
        return np.ascontiguousarray(y[start : start + target])
    out = np.zeros(target, dtype=np.float32)
    offset = (target - n) // 2
    out[offset : offset + n] = y
    return out


def load_audio(
    path_or_file: AudioSource,
    *,
    sr: int = 16000,
    duration: float = 3.0,
    top_db: float = 40.0,
    max_seconds: float = 60.0,
) -> np.ndarray:
    """Load one clip as a fixed-length mono float32 waveform.

    Parameters
    ----------
    path_or_file : str, os.PathLike, bytes or binary file-like
        The clip (see :func:`read_audio`).
    sr : int, default=16000
        Output sampling rate (Hz).
    duration : float, default=3.0
        Output length (s), after trimming silence: centre crop or zero pad.
    top_db : float, default=40.0
        Leading/trailing audio this far below the peak frame is trimmed.
    max_seconds : float, default=60.0
        Longer files are refused.

    Returns
    -------
    y : np.ndarray [shape=(round(sr * duration),), dtype=float32]

    Raises
    ------
    AudioError
        See :func:`read_audio`; the message names the file.

    See Also
    --------
    load_batch : many files at once, in a thread pool.

    Examples
    --------
    >>> from qser_core.data.demo import demo_corpus_dir
    >>> y = load_audio(next(demo_corpus_dir().glob("*.wav")))  # doctest: +SKIP
    >>> y.shape, y.dtype  # doctest: +SKIP
    ((48000,), dtype('float32'))
    """
    y, _ = read_audio(path_or_file, sr=sr, max_seconds=max_seconds)
    return fix_length(y, sr=sr, duration=duration, top_db=top_db)


# ------------------------------------------------------------------------ batch
def load_batch(
    paths: Sequence[str | os.PathLike] | Iterable[str | os.PathLike],
    *,
    sr: int = 16000,
    duration: float = 3.0,
    top_db: float = 40.0,
    max_seconds: float = 60.0,
    n_jobs: int = 2,
    progress: Progress | None = None,
    errors: str = "raise",
) -> np.ndarray | tuple[np.ndarray, list[tuple[str, str]]]:
    """Load many clips into one ``(n_clips, n_samples)`` float32 array, decoding in threads.

    soundfile and soxr release the GIL while decoding and resampling, so ``n_jobs`` threads
    run in parallel without extra processes.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Clip files, in the row order wanted.
    sr, duration, top_db, max_seconds
        As in :func:`load_audio` (``audio_kwargs(config.audio)`` gives all four).
    n_jobs : int, default=2
        Decoding threads (1 = in the calling thread).
    progress : callable, optional
        ``progress(done, total, message)``, called from the calling thread about 100 times.
    errors : {"raise", "skip"}, default="raise"
        ``"raise"``: after decoding everything, raise :class:`AudioError` naming the first bad
        file (in input order) and how many were bad. ``"skip"``: leave bad files out.

    Returns
    -------
    waveforms : np.ndarray [shape=(n_clips, round(sr * duration)), dtype=float32]
        With ``errors="raise"``, one row per path in order.
    (waveforms, bad) : tuple
        With ``errors="skip"``: rows for the readable files only (input order kept) and
        ``bad``, a list of ``(path, message)`` for the others.
    """
    if errors not in ("raise", "skip"):
        raise AudioError(f"errors must be 'raise' or 'skip'; got {errors!r}")
    if n_jobs < 1:
        raise AudioError(f"n_jobs must be at least 1; got {n_jobs!r}")
    paths = [str(p) for p in paths]
    total = len(paths)
    n_samples = int(round(sr * duration))
    out = np.zeros((total, n_samples), dtype=np.float32)
    failures: dict[int, str] = {}
    lock = threading.Lock()
    done = 0
    step = max(1, total // 100)

    def work(index: int) -> None:
        nonlocal done
        try:
            out[index] = load_audio(paths[index], sr=sr, duration=duration, top_db=top_db, max_seconds=max_seconds)
        except AudioError as exc:
            with lock:
                failures[index] = str(exc)
        with lock:
            done += 1

    if progress is not None:
        progress(0, total, "loading audio")
    if n_jobs == 1 or total <= 1:
        for i in range(total):
            work(i)
            if progress is not None and (done % step == 0 or done == total):
                progress(done, total, "loading audio")
    else:
        with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="qser-audio") as pool:
            futures = [pool.submit(work, i) for i in range(total)]
            reported = 0
            for k, future in enumerate(futures):
                future.result()
                if progress is not None and (k + 1 - reported >= step or k + 1 == total):
                    reported = k + 1
                    progress(reported, total, "loading audio")

    bad_rows = sorted(failures)
    if errors == "raise":
        if bad_rows:
            first = failures[bad_rows[0]]
            raise AudioError(
                f"{len(bad_rows)} of {total} audio files could not be loaded; first: {first}"
                + ("" if len(bad_rows) == 1 else f" (others include {paths[bad_rows[-1]]})")
            )
        return out
    keep = np.setdiff1d(np.arange(total), bad_rows)
    return out[keep], [(paths[i], failures[i]) for i in bad_rows]


def load_batches(
    paths: Sequence[str | os.PathLike],
    *,
    batch_size: int = 32,
    sr: int = 16000,
    duration: float = 3.0,
    top_db: float = 40.0,
    max_seconds: float = 60.0,
    n_jobs: int = 2,
):
    """Decode ``paths`` batch by batch, leaving out each clip that cannot be used (it never stops the others).

    Embedding extraction and the hybrid model's frozen front both read a corpus through this
    generator, so they skip the same clips for the same reasons (those of :func:`load_audio`).
    A batch is decoded only when the caller asks for it.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
    batch_size : int, default=32
    sr, duration, top_db, max_seconds, n_jobs
        As in :func:`load_batch`.

    Yields
    ------
    start : int
        Index in ``paths`` of the batch's first clip.
    waveforms : np.ndarray [shape=(n_usable, round(sr * duration)), dtype=float32]
        The usable clips of the batch, in order.
    bad : dict of int to str
        Offset in the batch → why that clip cannot be used.

    Examples
    --------
    >>> for start, waves, bad in load_batches(paths, batch_size=32):  # doctest: +SKIP
    ...     print(start, waves.shape, bad)
    0 (31, 48000) {4: 'audio file .../x.wav is silent (peak 0, below 0.0001 full scale); ...'}
    """
    paths = [str(p) for p in paths]
    for start in range(0, len(paths), batch_size):
        part = paths[start:start + batch_size]
        waves, failed = load_batch(part, sr=sr, duration=duration, top_db=top_db, max_seconds=max_seconds,
                                   n_jobs=n_jobs, errors="skip")
        reasons = dict(failed)
        yield start, waves, {k: reasons[p] for k, p in enumerate(part) if p in reasons}


def unusable_clips_error(bad: Sequence[tuple[str, str]], total: int, *, done: str = "") -> AudioError:
    """One :class:`AudioError` naming every clip of ``bad`` (``(path, reason)`` pairs) out of ``total``.

    ``done`` says what happened to the others (e.g. ``"the others are embedded and cached"``).
    """
    kept = f" ({done})" if done else ""
    return AudioError(f"{len(bad)} of {total} clips cannot be used{kept}:\n"
                      + "\n".join(f"  {p}: {r}" for p, r in bad)
                      + "\nremove or replace them, or re-index the corpus")


def audio_kwargs(audio: Any) -> dict[str, Any]:
    """Keyword arguments of :func:`load_audio` / :func:`load_batch` from an ``AudioConfig``.

    Examples
    --------
    >>> from qser_core.config import AudioConfig
    >>> audio_kwargs(AudioConfig())
    {'sr': 16000, 'duration': 3.0, 'top_db': 40.0, 'max_seconds': 60.0}
    """
    return {"sr": audio.sr, "duration": audio.duration, "top_db": audio.top_db, "max_seconds": audio.max_seconds}

"""Synthetic emotional speech in CREMA-D's format: the demo corpus that works offline.

``qser data demo`` writes it; the dashboard opens on it on a fresh machine.

The clips are SYNTHETIC: the eSpeak NG formant synthesiser (PyPI ``espeakng-loader``,
which ships ``libespeak-ng`` and its data) reads CREMA-D's 12 sentences with emotion
rendered by rule, as in the emotional-synthesis literature (Murray & Arnott 1993,
J. Acoust. Soc. Am. 93(2); Schröder 2001, Proc. Eurospeech): pitch level, pitch range,
speech rate and loudness per emotion (:data:`EMOTION_PROSODY`), plus voice quality
(spectral tilt, breathiness, tremor) added to the waveform. Twelve synthetic speakers
(6 female, 6 male eSpeak voice variants, with their own pitch, rate, tilt and level),
random per-clip variation of every parameter, random emotion strength and background
noise at 20-30 dB SNR keep the task from being trivially separable.

File names follow CREMA-D (``1001_DFA_ANG_XX.wav``: actor, sentence, emotion,
intensity), so ``data.index_corpus(..., dataset="demo")`` uses the CREMA-D parser; a
``VideoDemographics.csv`` and a ``SYNTHETIC.txt`` marker sit beside the clips.

Determinism: eSpeak NG keeps synthesis state between utterances in C globals (pitch
flutter index, last pitch, gain control), so the same text can come out differently
depending on what was synthesised before in the process. Each speaker is therefore
rendered in a fresh worker process, in a fixed order, which makes a corpus
byte-identical for a given seed (and a speaker's clips independent of ``n_speakers``).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import os
import shutil
import threading
import uuid
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qser_core.config import EMOTIONS, DataConfig, qser_home
from qser_core.errors import BackendError, ConfigError, DataError
from qser_core.data.espeak import check_available, synthesize
from qser_core.progress import Progress

__all__ = [
    "SENTENCES",
    "EMOTION_PROSODY",
    "CORPUS_VERSION",
    "Prosody",
    "generate_demo_corpus",
    "demo_corpus_dir",
    "is_demo_corpus",
    "is_synthetic",
]


#: CREMA-D's 12 sentences by their file-name code.
SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}

#: Version of the recipe; part of the cache folder name, bump it when clips change.
CORPUS_VERSION = "v1"

_MARKER = "SYNTHETIC.txt"
_MARKER_TITLE = "QSER Lab synthetic demo corpus"
_SR = 16000  # written sampling rate (Hz)
_ESPEAK_SR = 22050  # eSpeak NG's native rate
_BASE_RATE = 170.0  # words per minute of a neutral speaker
_BASE_VOLUME = 60.0  # eSpeak volume (0-200) of a neutral speaker; leaves headroom for anger


@dataclass(frozen=True)
class Prosody:
    """How one emotion departs from neutral speech (at full strength).

    Parameters
    ----------
    pitch : float
        Pitch-level change in eSpeak pitch units (0-100 scale, 10 units ≈ +15 %).
    pitch_range : float
        Pitch-range change in eSpeak range units (0-100 scale, 50 = voice default).
    rate : float
        Speech-rate factor.
    volume : float
        Loudness factor (amplitude).
    tilt : float
        Spectral tilt: > 0 darker (lax, low-passed), < 0 brighter (tense).
    breath : float
        Aspiration-noise level relative to the speech envelope.
    tremor : float
        Depth of a 5-8 Hz amplitude tremor (irregular, trembling voice).
    exclaim : float
        Probability of exclamatory intonation ("!") instead of a statement (".").
    """

    pitch: float = 0.0
    pitch_range: float = 0.0
    rate: float = 1.0
    volume: float = 1.0
    tilt: float = 0.0
    breath: float = 0.02
    tremor: float = 0.0
    exclaim: float = 0.0


#: Rule-based emotion rendering after Murray & Arnott (1993, Table I) and Schröder (2001):
#: anger: higher, much wider pitch, faster, louder, tense; disgust: lower, slower, darker;
#: fear: much higher pitch, wide range, much faster, breathy, trembling; happiness: higher,
#: wide range, slightly faster, louder; sadness: lower, narrow, slower, softer, breathy, lax.
EMOTION_PROSODY: dict[str, Prosody] = {
    "ANG": Prosody(pitch=12, pitch_range=35, rate=1.18, volume=1.5, tilt=-0.4, breath=0.02, exclaim=0.6),
    "DIS": Prosody(pitch=-10, pitch_range=5, rate=0.78, volume=0.9, tilt=0.3, breath=0.03),
    "FEA": Prosody(pitch=25, pitch_range=25, rate=1.3, volume=1.0, tilt=-0.1, breath=0.1, tremor=0.25, exclaim=0.3),
    "HAP": Prosody(pitch=16, pitch_range=40, rate=1.08, volume=1.2, tilt=-0.2, breath=0.03, exclaim=0.5),
    "NEU": Prosody(),
    "SAD": Prosody(pitch=-10, pitch_range=-30, rate=0.78, volume=0.6, tilt=0.4, breath=0.08, tremor=0.05),
}

# Twelve base voices, interleaved male/female so that any n_speakers >= 2 has both sexes.
# "croak" is eSpeak's creaky variant; f5 is its breathy female voice.
_BASE_VOICES = (
    ("m1", "Male"), ("f1", "Female"), ("m2", "Male"), ("f2", "Female"),
    ("m3", "Male"), ("f3", "Female"), ("m4", "Male"), ("f4", "Female"),
    ("m6", "Male"), ("f5", "Female"), ("croak", "Male"), ("Annie", "Female"),
)  # fmt: skip
_INTENSITY_STRENGTH = {"LO": 0.55, "MD": 1.0, "HI": 1.4}
_MAX_SPEAKERS = 91  # CREMA-D's actor ids 1001-1091
DEFAULT_SPEAKERS = 12


# ------------------------------------------------------------- speakers, clips
@dataclass(frozen=True)
class _Speaker:
    actor_id: int
    voice: str
    sex: str
    age: int
    pitch: float  # eSpeak pitch-unit offset
    rate: float  # speech-rate factor
    tilt: float  # own spectral tilt
    breath: float  # own breathiness
    gain_db: float  # recording level


def _speakers(n_speakers: int, seed: int) -> list[_Speaker]:
    out = []
    for i in range(n_speakers):
        rng = np.random.default_rng([seed, 1, i])
        name, sex = _BASE_VOICES[i % len(_BASE_VOICES)]
        out.append(
            _Speaker(
                actor_id=1001 + i,
                voice=f"en+{name}",
                sex=sex,
                age=int(rng.integers(20, 75)),
                pitch=float(rng.normal(0.0, 5.0)),
                rate=float(np.exp(rng.normal(0.0, 0.07))),
                tilt=float(rng.normal(0.0, 0.12)),
                breath=float(rng.uniform(0.0, 0.04)),
                gain_db=float(rng.normal(0.0, 2.0)),
            )
        )
    return out


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    c = np.concatenate(([0.0], np.cumsum(x, dtype=np.float64)))
    half = width // 2
    idx = np.arange(x.size)
    lo, hi = np.clip(idx - half, 0, x.size), np.clip(idx + half + 1, 0, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


def _voice_quality(y: np.ndarray, *, tilt: float, breath: float, tremor: float, rng: np.random.Generator) -> np.ndarray:
    """Spectral tilt, breathiness and tremor on a float waveform at 22.05 kHz."""
    rms = np.sqrt(np.mean(y**2)) + 1e-12
    # One-zero tilt filter y[n] + t*y[n-1]: t > 0 low-passes (lax, dark), t < 0 brightens (tense).
    y = y + tilt * np.concatenate(([0.0], y[:-1]))
    y *= rms / (np.sqrt(np.mean(y**2)) + 1e-12)  # tilt changes colour, not level
    if breath > 0:
        envelope = _moving_average(np.abs(y), int(0.01 * _ESPEAK_SR))
        noise = np.diff(rng.standard_normal(y.size + 1))  # high-passed white noise
        y = y + breath * 3.0 * envelope * noise
    if tremor > 0:
        t = np.arange(y.size) / _ESPEAK_SR
        y = y * (1.0 + tremor * np.sin(2 * np.pi * rng.uniform(5.0, 8.0) * t + rng.uniform(0, 2 * np.pi)))
    return y


def _render_clip(spk: _Speaker, index: int, sentence: str, emotion: str, seed: int) -> tuple[str, np.ndarray]:
    """One clip: (file name, int16 waveform at 16 kHz)."""
    import soxr

    rng = np.random.default_rng([seed, 2, index, list(SENTENCES).index(sentence), EMOTIONS.index(emotion)])
    p = EMOTION_PROSODY[emotion]
    if sentence == "IEO" and emotion != "NEU":  # CREMA-D varies intensity on this sentence only
        intensity = ("LO", "MD", "HI")[int(rng.integers(3))]
        strength = _INTENSITY_STRENGTH[intensity]
    else:
        intensity, strength = "XX", float(rng.uniform(0.7, 1.2))
    pitch = 50 + spk.pitch + strength * p.pitch + rng.normal(0, 3.0)
    pitch_range = 50 + strength * p.pitch_range + rng.normal(0, 8.0)
    rate = _BASE_RATE * spk.rate * (1 + strength * (p.rate - 1)) * np.exp(rng.normal(0, 0.07))
    volume = _BASE_VOLUME * (1 + strength * (p.volume - 1)) * np.exp(rng.normal(0, 0.12))
    punct = "!" if rng.random() < p.exclaim * min(strength, 1.0) else "."
    raw, sr = synthesize(
        SENTENCES[sentence] + punct, voice=spk.voice, rate=rate, pitch=pitch, pitch_range=pitch_range,
        volume=volume, seed=int(rng.integers(1, 2**31 - 1)),
    )  # fmt: skip
    y = raw.astype(np.float64) / 32768.0
    y = _voice_quality(
        y,
        tilt=float(np.clip(spk.tilt + strength * p.tilt + rng.normal(0, 0.1), -0.8, 0.8)),
        breath=max(0.0, spk.breath + strength * p.breath + rng.normal(0, 0.015)),
        tremor=max(0.0, strength * p.tremor + abs(rng.normal(0, 0.02))),
        rng=rng,
    )
    y = soxr.resample(y, sr, _SR, quality="soxr_hq")
    lead, tail = (int(rng.uniform(0.1, 0.45) * _SR) for _ in range(2))
    y = np.concatenate((np.zeros(lead), y, np.zeros(tail)))
    y *= 10 ** ((spk.gain_db + rng.normal(0, 1.5)) / 20)
    active = np.abs(y) > 0.05 * np.abs(y).max()
    speech_rms = np.sqrt(np.mean(y[active] ** 2))
    snr_db = rng.uniform(20.0, 30.0)
    white = rng.standard_normal(y.size + 1)
    noise = white[1:] + 0.7 * white[:-1]  # mildly low-passed room/mic noise
    y = y + noise * (speech_rms / 10 ** (snr_db / 20) / np.sqrt(1.49))
    peak = np.abs(y).max()
    if peak > 0.97:  # avoid clipping; a rare loud clip gets limited
        y *= 0.97 / peak
    name = f"{spk.actor_id}_{sentence}_{emotion}_{intensity}.wav"
    return name, np.round(y * 32767).astype("<i2")


def _write_wav(path: Path, y: np.ndarray) -> None:
    """16-bit mono PCM WAV through the stdlib (byte-for-byte reproducible header)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(_SR)
        w.writeframes(y.tobytes())
    path.write_bytes(buf.getvalue())


def _render_speaker(out: str, speaker: _Speaker, index: int, seed: int) -> int:
    """All clips of one speaker, in a fixed order (runs in a fresh worker process)."""
    folder = Path(out)
    count = 0
    for sentence in SENTENCES:
        for emotion in EMOTIONS:
            name, y = _render_clip(speaker, index, sentence, emotion, seed)
            _write_wav(folder / name, y)
            count += 1
    return count


def _worker_main(arguments: str) -> None:
    """Entry point of a worker interpreter: render one speaker (see :func:`_run_workers`)."""
    args = json.loads(arguments)
    # Lower priority: the dashboard synthesises the corpus in the background of a new user's first minutes, and
    # two CPU-bound workers on a 2-core machine held its first Live demo prediction back to 42 s (13 s at nice 0
    # with the corpus already made). Alone on the machine the workers run as fast as before.
    with contextlib.suppress(OSError):
        os.nice(10)
    _render_speaker(args["out"], _Speaker(**args["speaker"]), args["index"], args["seed"])


def _run_workers(
    folder: Path, speakers: list[_Speaker], seed: int, *, progress: Progress | None, total: int, per_speaker: int
) -> None:
    """Render each speaker in its own fresh interpreter, at most ``os.cpu_count()`` (≤ 4) at a time.

    Plain subprocesses rather than multiprocessing: "spawn" re-runs the caller's main
    script in every child, which breaks scripts without a ``__main__`` guard, and "fork"
    would copy eSpeak's state from this process (see the module docstring).
    """
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    code = "import sys; from qser_core.data.demo import _worker_main; _worker_main(sys.argv[1])"
    workers = max(1, min(len(speakers), os.cpu_count() or 1, 4))
    pending = list(enumerate(speakers))
    running: list[tuple[subprocess.Popen, _Speaker]] = []
    done = 0
    try:
        while pending or running:
            while pending and len(running) < workers:
                index, spk = pending.pop(0)
                payload = json.dumps({"out": str(folder), "speaker": asdict(spk), "index": index, "seed": seed})
                proc = subprocess.Popen(
                    [sys.executable, "-c", code, payload], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
                running.append((proc, spk))
            proc, spk = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode != 0:
                lines = err.decode("utf-8", "replace").strip().splitlines() or ["(no output)"]
                raise BackendError(
                    f"demo corpus worker for speaker {spk.actor_id} failed (exit code {proc.returncode}): "
                    f"{lines[-1]}; fix that and run again"
                )
            done += per_speaker
            if progress is not None:
                progress(done, total, f"synthesised speaker {spk.actor_id}")
    finally:
        for proc, _ in running:
            proc.kill()
            proc.wait()


# -------------------------------------------------------------------- corpus
def generate_demo_corpus(
    out: str | os.PathLike, *, n_speakers: int = 12, seed: int = 0, progress: Progress | None = None
) -> Path:
    """Write the synthetic corpus (``n_speakers × 12 sentences × 6 emotions`` clips) into ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        Folder to write (created if needed; same-named files are overwritten).
    n_speakers : int, default=12
        Synthetic actors 1001, 1002, ... (1-91), alternating male and female.
    seed : int, default=0
        Same seed, same bytes.
    progress : callable, optional
        ``progress(done, total, message)`` in clips, after each speaker.

    Returns
    -------
    Path
        ``out``, holding ``{actor}_{sentence}_{emotion}_{intensity}.wav`` (16 kHz mono 16-bit),
        ``VideoDemographics.csv`` and ``SYNTHETIC.txt`` (written last).

    Raises
    ------
    BackendError
        eSpeak NG cannot be loaded, or a worker process fails.
    DataError
        ``n_speakers`` or ``seed`` out of range.
    """
    if isinstance(n_speakers, bool) or not isinstance(n_speakers, int) or not 1 <= n_speakers <= _MAX_SPEAKERS:
        raise DataError(f"n_speakers must be an integer from 1 to {_MAX_SPEAKERS}; got {n_speakers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed must be a non-negative integer; got {seed!r}")
    check_available()  # fail fast, in this process, with the install hint
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).unlink(missing_ok=True)
    speakers = _speakers(n_speakers, seed)
    per_speaker = len(SENTENCES) * len(EMOTIONS)
    total = n_speakers * per_speaker
    if progress is not None:
        progress(0, total, "synthesising demo speech")
    _run_workers(folder, speakers, seed, progress=progress, total=total, per_speaker=per_speaker)
    lines = ["ActorID,Age,Sex,Race,Ethnicity"]
    lines += [f"{s.actor_id},{s.age},{s.sex},Unspecified,Unspecified" for s in speakers]
    (folder / "VideoDemographics.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / _MARKER).write_text(
        f"{_MARKER_TITLE} ({CORPUS_VERSION})\n\n"
        "Every clip in this folder is SYNTHETIC speech made by the eSpeak NG formant synthesiser,\n"
        "not recordings of people, and not CREMA-D. Emotions are rendered by prosody rules\n"
        "(pitch level and range, rate, loudness, voice quality) after Murray & Arnott (1993) and\n"
        "Schröder (2001), with random variation and background noise. File names follow CREMA-D\n"
        "(ActorID_Sentence_Emotion_Intensity.wav) so the same code reads both. Use it to try the\n"
        "pipeline; results on it say nothing about human emotional speech.\n\n"
        f"seed: {seed}\nspeakers: {n_speakers}\nclips: {total}\nsampling_rate: {_SR}\n",
        encoding="utf-8",
    )
    return folder


def is_synthetic(data: DataConfig) -> bool:
    """True when results on ``data`` come from synthetic speech: dataset ``demo``, or any folder marked
    with the demo corpus's ``SYNTHETIC.txt`` (a ``qser data demo`` folder used as ``crema-d``)."""
    if data.dataset == "demo":
        return True
    return bool(data.data_dir) and data.dataset != "manifest" and is_demo_corpus(data.data_dir)


def is_demo_corpus(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder made by :func:`generate_demo_corpus` (it has the marker file)."""
    marker = Path(path) / _MARKER
    try:
        return marker.is_file() and marker.read_text(encoding="utf-8").startswith(_MARKER_TITLE)
    except OSError:
        return False


def _is_complete(folder: Path) -> bool:
    if not is_demo_corpus(folder):
        return False
    for line in (folder / _MARKER).read_text(encoding="utf-8").splitlines():
        if line.startswith("clips:"):
            return sum(1 for _ in folder.glob("*.wav")) == int(line.split(":")[1])
    return False


_DIR_LOCK = threading.Lock()


def demo_speakers() -> int:
    """Speakers of the default demo corpus: 12, or ``$QSER_DEMO_SPEAKERS`` (1-91) for a smaller or larger one.

    The fast test tier sets 6 (432 clips: 5-fold speaker-disjoint cross-validation still works).

    Raises
    ------
    ConfigError
        ``QSER_DEMO_SPEAKERS`` is not an integer from 1 to 91.
    """
    raw = os.environ.get("QSER_DEMO_SPEAKERS", "").strip()
    if not raw:
        return DEFAULT_SPEAKERS
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not 1 <= n <= _MAX_SPEAKERS:
        raise ConfigError(f"QSER_DEMO_SPEAKERS must be an integer from 1 to {_MAX_SPEAKERS}; got {raw!r} "
                          "(unset it for the default 12 speakers)")
    return n


def _demo_folder(seed: int, n_speakers: int) -> Path:
    name = f"{CORPUS_VERSION}-seed{seed}" + ("" if n_speakers == DEFAULT_SPEAKERS else f"-{n_speakers}spk")
    return qser_home() / "demo" / name


def demo_corpus_ready(*, seed: int = 0) -> bool:
    """Whether :func:`demo_corpus_dir` would return at once (the corpus is complete on disk)."""
    return _is_complete(_demo_folder(seed, demo_speakers()))


def demo_corpus_dir(*, seed: int = 0, progress: Progress | None = None) -> Path:
    """The default demo corpus (12 speakers, 864 clips; see :func:`demo_speakers`), generated on first use.

    It lives in ``qser_home()/demo/v1-seed{seed}`` (``…-{n}spk`` for another speaker count).
    Generation goes into a temporary sibling folder that is renamed into place when complete, so an
    interrupted run never leaves a half corpus; threads share a lock, and processes a lock file (where
    ``fcntl`` exists) — if two processes still race, the loser discards its copy.

    Parameters
    ----------
    seed : int, default=0
    progress : callable, optional
        ``progress(done, total, message)`` in clips while the corpus is generated (not called when it exists).

    Returns
    -------
    Path
        The corpus folder.

    Examples
    --------
    >>> folder = demo_corpus_dir()  # doctest: +SKIP
    >>> len(list(folder.glob("*.wav")))  # doctest: +SKIP
    864
    """
    n_speakers = demo_speakers()
    final = _demo_folder(seed, n_speakers)
    parent = final.parent
    if _is_complete(final):
        return final
    with _DIR_LOCK:
        parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(parent / f".{final.name}.lock", "a+b")
        try:
            try:
                import fcntl

                fcntl.flock(lock_file, fcntl.LOCK_EX)
            except ImportError:  # Windows: rely on the atomic rename below
                pass
            if _is_complete(final):
                return final
            if final.exists():  # left incomplete by hand or by an old version: rebuild it
                shutil.rmtree(final, ignore_errors=True)
            tmp = parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                generate_demo_corpus(tmp, n_speakers=n_speakers, seed=seed, progress=progress)
                try:
                    os.rename(tmp, final)
                except OSError:
                    if not _is_complete(final):
                        raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return final
        finally:
            lock_file.close()  # releases the flock

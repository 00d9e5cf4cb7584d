"""eSpeak NG speech synthesis through ctypes (the library and its data ship in ``espeakng-loader``).

Used by :mod:`qser_core.data.demo` to make the synthetic demo corpus offline. The engine is
initialised once per process, in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with a synth callback
that collects the int16 samples (about 1 ms of CPU per short sentence).
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from qser_core.errors import BackendError

__all__ = ["synthesize", "check_available"]

_ESPEAK_LOCK = threading.Lock()  # libespeak-ng has process-global state
_espeak: dict = {}

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() when data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _load_library() -> tuple[ctypes.CDLL, str]:
    """libespeak-ng and its data folder from ``espeakng-loader``; BackendError if unavailable."""
    try:
        import espeakng_loader

        path = espeakng_loader.get_library_path()
        data = espeakng_loader.get_data_path()
        lib = ctypes.CDLL(path)
    except (ImportError, OSError, RuntimeError) as exc:
        raise BackendError(
            f"the eSpeak NG speech synthesiser could not be loaded ({type(exc).__name__}: {exc}); "
            "the demo corpus needs it: run `pip install espeakng-loader` (it ships libespeak-ng and its data), "
            "or use a real corpus with data.dataset=crema-d"
        ) from None
    return lib, data


def check_available() -> None:
    """Raise BackendError (with the install hint) if eSpeak NG cannot be loaded in this process."""
    _load_library()


def _engine() -> dict:
    """Initialise eSpeak NG once per process (call with ``_ESPEAK_LOCK`` held)."""
    if _espeak:
        return _espeak
    lib, data = _load_library()
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise BackendError(
            f"eSpeak NG failed to initialise with data folder {data} (code {rate}); "
            "reinstall it with `pip install --force-reinstall espeakng-loader`"
        )
    chunks: list[np.ndarray] = []

    @_SYNTH_CALLBACK
    def collect(wav, n, events):  # called by espeak_Synth, in this thread
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    lib.espeak_SetSynthCallback(collect)
    _espeak.update(lib=lib, sr=rate, chunks=chunks, callback=collect)  # keep the callback alive
    return _espeak


def synthesize(
    text: str,
    *,
    voice: str = "en",
    rate: float = 170.0,
    pitch: float = 50.0,
    pitch_range: float = 50.0,
    volume: float = 100.0,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """Speak ``text`` with eSpeak NG and return the waveform.

    Parameters
    ----------
    text : str
        What to say (punctuation shapes the intonation: "." statement, "!" exclamation).
    voice : str, default="en"
        eSpeak voice name, e.g. ``"en+m3"`` or ``"en+f2"`` (variant after ``+``).
    rate : float, default=170
        Words per minute (80-450).
    pitch, pitch_range : float, default=50
        eSpeak pitch level and range (0-100; 50 is the voice's own).
    volume : float, default=100
        Amplitude (0-200).
    seed : int, default=0
        Seed of eSpeak's noise generator (breathy voices).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=int16]
    sr : int
        22050 (eSpeak NG's rate).

    Notes
    -----
    Output also depends on what this process synthesised before: eSpeak NG keeps state
    between utterances in C globals that no API call resets, so
    :func:`qser_core.data.demo.generate_demo_corpus` renders each speaker in a fresh process.
    """
    with _ESPEAK_LOCK:
        eng = _engine()
        lib = eng["lib"]
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise BackendError(f"eSpeak NG has no voice {voice!r}; use e.g. 'en', 'en+m3' or 'en+f2'")
        for param, value, low, high in (
            (_RATE, rate, 80, 450), (_VOLUME, volume, 0, 200), (_PITCH, pitch, 0, 100), (_RANGE, pitch_range, 0, 100),
        ):  # fmt: skip
            lib.espeak_SetParameter(param, int(round(min(max(value, low), high))), 0)
        lib.espeak_ng_SetRandSeed(int(seed) & 0x7FFFFFFF)
        buf = text.encode("utf-8") + b"\0"
        eng["chunks"].clear()
        status = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise BackendError(f"eSpeak NG failed to synthesise {text!r} (status {status})")
        y = np.concatenate(eng["chunks"]) if eng["chunks"] else np.zeros(0, np.int16)
        eng["chunks"].clear()
        return y, eng["sr"]

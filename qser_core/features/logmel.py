"""Batched log-mel spectrograms: the front end of the CNN backbones.

``qser extract`` computes these for every clip before the backbone sees them.

:func:`log_mel` gives the same numbers as
``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, ...), ref=1.0,
amin=1e-10, top_db=80.0)`` clip by clip, but for a whole batch at once: the STFT
runs in ``torch.stft`` (one call for all clips) and the mel filter bank is
librosa's formula (``librosa.filters.mel``, cached per setting) computed here, so
neither librosa nor numba is imported. Hand-written for speed:
librosa processes one clip per call and spends most of its time in per-call
overhead and a float64 einsum; the torch path is ~10x faster on a batch.

Two details differ from applying librosa to a stacked ``(n, samples)`` array on
purpose: ``top_db`` clips each clip against its *own* maximum (librosa would use
the whole batch's), and the result keeps the input's float precision.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from qser_core.config import FeatureConfig
from qser_core.errors import AudioError, ConfigError

__all__ = ["log_mel", "log_mel_torch", "mel_filter_bank", "feature_kwargs", "n_frames"]

_PAD_MODES = ("constant", "reflect")


def feature_kwargs(features: FeatureConfig, sr: int) -> dict[str, Any]:
    """Keyword arguments of :func:`log_mel` for a feature config and sampling rate.

    Parameters
    ----------
    features : FeatureConfig
        The ``[features]`` section of the config.
    sr : int
        Sampling rate of the waveforms (Hz).

    Returns
    -------
    dict
        ``sr, n_fft, hop_length, n_mels, fmin, fmax``.

    Examples
    --------
    >>> feature_kwargs(FeatureConfig(), 16000)["n_mels"]
    128
    """
    return {
        "sr": int(sr),
        "n_fft": features.n_fft,
        "hop_length": features.hop_length,
        "n_mels": features.n_mels,
        "fmin": features.fmin,
        "fmax": features.fmax,
    }


def n_frames(n_samples: int, *, hop_length: int = 160) -> int:
    """Frames of a centred STFT of ``n_samples`` samples (``1 + n_samples // hop_length``)."""
    return 1 + int(n_samples) // int(hop_length)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    # Slaney's scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
    f = np.asarray(f, dtype=np.float64)
    mels = f / (200.0 / 3)
    log_t = f >= 1000.0
    mels[log_t] = 15.0 + np.log(f[log_t] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    freqs = (200.0 / 3) * mels
    log_t = mels >= 15.0
    freqs[log_t] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels[log_t] - 15.0))
    return freqs


@functools.lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``, computed here.

    The same operations in the same order (the tests check equality with librosa), written out
    because importing ``librosa.filters`` imports numba and scipy.signal: 0.7 s quiet, 4.7 s on
    the shared 2-core machine, for a 20-line formula.
    """
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)  # float32: librosa's default dtype
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]  # Slaney area normalisation
    return torch.from_numpy(weights)


@functools.lru_cache(maxsize=32)
def _window(n_fft: int) -> torch.Tensor:
    # Periodic Hann = scipy.signal.get_window("hann", n_fft, fftbins=True), what librosa uses.
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float64)


def mel_filter_bank(*, sr: int = 16000, n_fft: int = 1024, n_mels: int = 64, fmin: float = 50.0,
                    fmax: float = 8000.0) -> np.ndarray:
    """The (cached) mel filter bank ``librosa.filters.mel`` gives for these settings.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2)]
        float32 weights (a copy; the cached one is never handed out).
    """
    _check_settings(sr=sr, n_fft=n_fft, hop_length=1, n_mels=n_mels, fmin=fmin, fmax=fmax, pad_mode="constant")
    return _mel_basis(int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax)).numpy().copy()


def _check_settings(*, sr, n_fft, hop_length, n_mels, fmin, fmax, pad_mode) -> None:
    if sr <= 0:
        raise ConfigError(f"sr must be a positive sampling rate in Hz; got {sr!r}")
    if n_fft < 2 or hop_length < 1 or n_mels < 1:
        raise ConfigError(
            f"n_fft must be >= 2, hop_length >= 1 and n_mels >= 1; got n_fft={n_fft}, "
            f"hop_length={hop_length}, n_mels={n_mels}"
        )
    if not 0 <= fmin < fmax:
        raise ConfigError(f"fmin must be >= 0 and below fmax; got fmin={fmin}, fmax={fmax}")
    if fmax > sr / 2:
        raise ConfigError(
            f"fmax={fmax} Hz is above the Nyquist frequency of sr={sr} Hz ({sr / 2} Hz); "
            f"set features.fmax to at most {sr / 2} or raise audio.sr"
        )
    if pad_mode not in _PAD_MODES:
        raise ConfigError(f"pad_mode must be one of {', '.join(_PAD_MODES)}; got {pad_mode!r}")


def log_mel_torch(y: torch.Tensor, *, sr: int = 16000, n_fft: int = 1024, hop_length: int = 160,
                  n_mels: int = 64, fmin: float = 50.0, fmax: float = 8000.0, top_db: float | None = 80.0,
                  pad_mode: str = "constant") -> torch.Tensor:
    """Log-mel spectrogram (dB) of one waveform or a batch, as a torch tensor.

    Differentiable with respect to ``y`` (the hybrid model back-propagates through
    the backbone, not through this, but nothing here prevents it).

    Parameters
    ----------
    y : torch.Tensor [shape=(..., samples)]
        Waveform(s); float64 input is computed in float64, anything else in float32.
    sr : int, default=16000
        Sampling rate of ``y`` (Hz).
    n_fft : int, default=1024
        FFT window length (samples); periodic Hann window, centred frames.
    hop_length : int, default=160
        Hop between frames (samples).
    n_mels : int, default=64
        Mel bands (Slaney mel scale and area normalisation, librosa's defaults).
    fmin, fmax : float, default=50.0, 8000.0
        Band edges of the filter bank (Hz); ``fmax`` at most ``sr / 2``.
    top_db : float or None, default=80.0
        Floor each clip at its own maximum minus ``top_db``; ``None`` keeps every value.
    pad_mode : {"constant", "reflect"}, default="constant"
        Padding of the centred STFT at both ends; ``"constant"`` (zeros) is
        librosa's default since 0.10.

    Returns
    -------
    torch.Tensor [shape=(..., n_mels, t)]
        ``10 * log10(max(S, 1e-10))`` with ``t = 1 + samples // hop_length``.

    Raises
    ------
    ConfigError
        A setting is out of range (e.g. ``fmax`` above Nyquist).
    AudioError
        ``y`` has no samples, or too few for ``pad_mode="reflect"``.
    """
    _check_settings(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax,
                    pad_mode=pad_mode)
    if y.ndim == 0 or y.shape[-1] == 0:
        raise AudioError(f"log_mel needs waveforms of shape (..., samples) with samples > 0; got shape {tuple(y.shape)}")
    if pad_mode == "reflect" and y.shape[-1] <= n_fft // 2:
        raise AudioError(
            f"pad_mode='reflect' needs more than n_fft // 2 = {n_fft // 2} samples; got {y.shape[-1]}; "
            "use pad_mode='constant' or a longer clip"
        )
    dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    lead = y.shape[:-1]
    flat = y.to(dtype).reshape(-1, y.shape[-1])
    spec = torch.stft(flat, n_fft, hop_length=hop_length, window=_window(int(n_fft)).to(dtype), center=True,
                      pad_mode=pad_mode, return_complex=True)
    power = spec.real.square() + spec.imag.square()  # |X|^2 without the sqrt of abs()
    basis = _mel_basis(int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax)).to(dtype)
    mel = torch.matmul(basis, power)
    db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
    if top_db is not None:
        if top_db < 0:
            raise ConfigError(f"top_db must be >= 0 or None; got {top_db!r}")
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db.reshape(*lead, n_mels, db.shape[-1])


def log_mel(y: np.ndarray, *, sr: int = 16000, n_fft: int = 1024, hop_length: int = 160, n_mels: int = 64,
            fmin: float = 50.0, fmax: float = 8000.0, top_db: float | None = 80.0,
            pad_mode: str = "constant") -> np.ndarray:
    """Log-mel spectrogram (dB) of one waveform or a batch, NumPy in and out.

    Equals ``librosa.power_to_db(librosa.feature.melspectrogram(y=clip, sr=sr,
    n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax),
    ref=1.0, amin=1e-10, top_db=top_db)`` for every clip (to float rounding), in
    one batched torch call. See :func:`log_mel_torch` for the parameters.

    Returns
    -------
    np.ndarray [shape=(..., n_mels, t)]
        float32 (float64 for float64 input).

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    >>> log_mel(y, sr=16000).shape
    (2, 64, 101)
    """
    arr = np.asarray(y)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    out = log_mel_torch(torch.from_numpy(np.ascontiguousarray(arr)), sr=sr, n_fft=n_fft, hop_length=hop_length,
                        n_mels=n_mels, fmin=fmin, fmax=fmax, top_db=top_db, pad_mode=pad_mode)
    return out.numpy()

"""Tests of qser_core.features.logmel: batched log-mel equals librosa's, clip by clip."""

from __future__ import annotations

import subprocess
import sys

import librosa
import numpy as np
import pytest
import torch

from qser_core.config import FeatureConfig
from qser_core.errors import AudioError, ConfigError
from qser_core.features.logmel import feature_kwargs, log_mel, log_mel_torch, mel_filter_bank, n_frames

SETTINGS = [
    dict(sr=16000, n_fft=1024, hop_length=160, n_mels=64, fmin=50.0, fmax=8000.0),
    dict(sr=16000, n_fft=512, hop_length=128, n_mels=40, fmin=0.0, fmax=4000.0),
    dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, fmin=20.0, fmax=11025.0),
]


def _librosa(y, top_db=80.0, **kw):
    return librosa.power_to_db(librosa.feature.melspectrogram(y=y, **kw), ref=1.0, amin=1e-10, top_db=top_db)


def _max_diff_above_floor(ours, ref):
    floor = ref.max(axis=(-2, -1), keepdims=True) - 80.0
    mask = ref > floor + 1e-3  # bins clipped to the floor are equal by construction
    return np.abs(ours - ref)[mask].max()


@pytest.fixture(scope="module")
def speech(emodb_audio):
    files = sorted(emodb_audio.glob("*.flac"))[:4]
    clips = [librosa.load(f, sr=22050, duration=1.5)[0] for f in files]
    n = min(len(c) for c in clips)
    return np.stack([c[:n] for c in clips])


class TestMatchesLibrosa:
    @pytest.mark.parametrize("kw", SETTINGS, ids=["default", "small", "22k"])
    def test_1d_float64_exact(self, speech, kw):
        y = librosa.resample(speech[0].astype(np.float64), orig_sr=22050, target_sr=kw["sr"])
        ours = log_mel(y, **kw)
        ref = _librosa(y, **kw)
        assert ours.shape == ref.shape and ours.dtype == np.float64
        assert np.abs(ours - ref).max() < 1e-6

    @pytest.mark.parametrize("kw", SETTINGS, ids=["default", "small", "22k"])
    def test_batched_float32(self, speech, kw):
        y = librosa.resample(speech, orig_sr=22050, target_sr=kw["sr"], axis=-1).astype(np.float32)
        ours = log_mel(y, **kw)
        ref = np.stack([_librosa(clip, **kw) for clip in y])
        assert ours.shape == ref.shape == (len(y), kw["n_mels"], n_frames(y.shape[-1], hop_length=kw["hop_length"]))
        assert ours.dtype == np.float32
        assert _max_diff_above_floor(ours, ref) < 1e-3

    def test_top_db_per_clip_not_per_batch(self, speech):
        y = speech[:2].astype(np.float64).copy()
        y[1] *= 1e-3  # 60 dB quieter: a batch-wide floor would clip it much harder
        ours = log_mel(y, sr=22050, fmax=11025.0)
        ref = _librosa(y[1], sr=22050, n_fft=1024, hop_length=160, n_mels=64, fmin=50.0, fmax=11025.0)
        assert np.abs(ours[1] - ref).max() < 1e-6
        batch_ref = _librosa(y, sr=22050, n_fft=1024, hop_length=160, n_mels=64, fmin=50.0, fmax=11025.0)
        assert np.abs(batch_ref[1] - ours[1]).max() > 1.0  # librosa on the stack floors at the batch maximum

    def test_top_db_none_and_reflect(self, speech):
        y = speech[0].astype(np.float64)
        kw = dict(sr=22050, n_fft=512, hop_length=256, n_mels=32, fmin=0.0, fmax=8000.0)
        ours = log_mel(y, top_db=None, pad_mode="reflect", **kw)
        ref = _librosa(y, top_db=None, pad_mode="reflect", **kw)
        assert np.abs(ours - ref).max() < 1e-6

    def test_torch_variant_agrees_and_has_gradients(self, speech):
        y = torch.tensor(speech[:2], dtype=torch.float32, requires_grad=True)
        out = log_mel_torch(y, sr=22050, fmax=11025.0, top_db=None)
        assert np.allclose(out.detach().numpy(), log_mel(speech[:2], sr=22050, fmax=11025.0, top_db=None), atol=1e-4)
        out.mean().backward()
        assert y.grad is not None and torch.isfinite(y.grad).all()

    def test_filter_bank_is_librosas(self):
        ours = mel_filter_bank(sr=16000, n_fft=1024, n_mels=64, fmin=50.0, fmax=8000.0)
        assert np.array_equal(ours, librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=50.0, fmax=8000.0))


class TestShape:
    def test_leading_axes_are_kept(self):
        y = np.random.default_rng(0).standard_normal((2, 3, 4000)).astype(np.float32)
        out = log_mel(y)
        assert out.shape == (2, 3, 64, n_frames(4000))
        assert np.allclose(out[1, 2], log_mel(y[1, 2]), atol=1e-4)

    def test_integer_input_becomes_float32(self):
        y = (np.random.default_rng(0).standard_normal(4000) * 1000).astype(np.int16)
        assert log_mel(y).dtype == np.float32

    def test_feature_kwargs(self):
        kw = feature_kwargs(FeatureConfig(n_mels=32, fmax=7000.0), 16000)
        assert kw == dict(sr=16000, n_fft=1024, hop_length=160, n_mels=32, fmin=50.0, fmax=7000.0)
        assert log_mel(np.zeros(1600, np.float32), **kw).shape == (32, 11)


class TestInputs:
    def test_fmax_above_nyquist(self):
        with pytest.raises(ConfigError, match=r"fmax=9000.0 Hz is above the Nyquist frequency of sr=16000"):
            log_mel(np.zeros(4000, np.float32), sr=16000, fmax=9000.0)

    def test_fmin_not_below_fmax(self):
        with pytest.raises(ConfigError, match=r"fmin must be >= 0 and below fmax; got fmin=900"):
            log_mel(np.zeros(4000, np.float32), fmin=900.0, fmax=800.0)

    def test_unknown_pad_mode(self):
        with pytest.raises(ConfigError, match=r"pad_mode must be one of constant, reflect; got 'edge'"):
            log_mel(np.zeros(4000, np.float32), pad_mode="edge")

    def test_empty_waveform(self):
        with pytest.raises(AudioError, match=r"samples > 0; got shape \(2, 0\)"):
            log_mel(np.zeros((2, 0), np.float32))

    def test_reflect_needs_enough_samples(self):
        with pytest.raises(AudioError, match=r"needs more than n_fft // 2 = 512 samples; got 100"):
            log_mel(np.zeros(100, np.float32), pad_mode="reflect")


class TestColdStart:
    def test_first_call_in_fresh_interpreter_is_fast(self):
        # The filter bank must not trigger numba compilation (librosa's first MFCC call takes ~26 s).
        code = (
            "import time, numpy as np; from qser_core.features.logmel import log_mel; t = time.perf_counter(); "
            "log_mel(np.zeros((2, 48000), np.float32)); print(time.perf_counter() - t)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert float(out.stdout.strip().splitlines()[-1]) < 8.0  # ~1 s of imports; numba JIT would be ~20 s

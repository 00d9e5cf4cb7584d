"""Tests of qser_core.features.logmel: batched log-mel equals librosa's, clip by clip."""

from __future__ import annotations

import subprocess
import sys
import warnings

import librosa
import numpy as np
import pytest
import torch

from qser_core.config import FeatureConfig, QserConfig, empty_mel_bands, max_mel_bands
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

    @pytest.mark.parametrize("kw", [dict(sr=16000, n_fft=1024, n_mels=64, fmin=50.0, fmax=8000.0),
                                    dict(sr=16000, n_fft=1024, n_mels=128, fmin=50.0, fmax=8000.0),
                                    dict(sr=22050, n_fft=512, n_mels=40, fmin=0.0, fmax=11025.0),
                                    dict(sr=32000, n_fft=2048, n_mels=256, fmin=300.0, fmax=14000.0)])
    def test_filter_bank_is_librosas(self, kw):
        assert np.array_equal(mel_filter_bank(**kw), librosa.filters.mel(**kw))


class TestEmptyMelBands:
    """Settings that leave a mel band without an FFT bin are refused by the config (constant backbone input)."""

    @pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
        (16000, 256, 128, 50.0, 8000.0), (16000, 256, 88, 50.0, 8000.0), (16000, 512, 128, 50.0, 8000.0),
        (16000, 1024, 256, 0.0, 8000.0), (22050, 256, 64, 300.0, 4000.0), (8000, 64, 40, 0.0, 4000.0),
        (44100, 2048, 256, 20.0, 22050.0), (16000, 128, 40, 50.0, 8000.0)])
    def test_count_agrees_with_librosas_warning(self, sr, n_fft, n_mels, fmin, fmax):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            weights = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        warned = any("Empty filters" in str(w.message) for w in caught)
        empty = empty_mel_bands(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        assert (empty > 0) == warned
        if fmin > 0:
            assert empty == int((weights.max(axis=1) <= 0).sum())

    def test_config_refuses_empty_bands_and_says_how_many_fit(self):
        with pytest.raises(ConfigError, match=r"features.n_mels must be at most 95 so that every mel band holds an "
                                              r"FFT bin \(n_fft=256 at audio.sr=16000 Hz, 50-8000 Hz\); got 128 "
                                              r"\(12 empty bands\)"):
            QserConfig().with_overrides(["features.n_fft=256"])
        assert QserConfig().with_overrides(["features.n_fft=256", "features.n_mels=95"]).features.n_mels == 95
        assert max_mel_bands(sr=16000, n_fft=256, fmin=50.0, fmax=8000.0) == 95

    def test_a_higher_rate_spreads_the_bins(self):
        # n_fft 512 at 22.05 kHz: bins 43 Hz apart instead of 31 at 16 kHz, so 137 bands fit instead of 189
        assert QserConfig().with_overrides(["features.n_fft=512", "features.n_mels=160"]).features.n_mels == 160
        with pytest.raises(ConfigError, match=r"at most 137 .*audio.sr=22050 Hz"):
            QserConfig().with_overrides(["audio.sr=22050", "features.n_fft=512", "features.n_mels=160"])

    def test_fmax_above_nyquist_is_refused(self):
        with pytest.raises(ConfigError, match=r"features.fmax must be at most the Nyquist frequency of audio.sr=8000 "
                                              r"Hz \(4000.0 Hz\); got 8000.0"):
            QserConfig().with_overrides(["audio.sr=8000"])
        assert QserConfig().with_overrides(["audio.sr=8000", "features.fmax=4000"]).audio.sr == 8000


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
    def test_first_call_compiles_nothing(self):
        # librosa's filter bank is plain NumPy; its numba-jitted paths (a ~20 s first compile) must stay
        # unimported. The cold-start time itself is a benchmark row (benchmarks/bench_extract.py).
        code = (
            "import sys, numpy as np; from qser_core.features.logmel import log_mel; "
            "log_mel(np.zeros((2, 48000), np.float32)); print(sorted(m for m in sys.modules if m.split('.')[0] == 'numba'))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "[]"

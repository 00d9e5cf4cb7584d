"""Tests of the eGeMAPS baseline backbone (qser_core/features/backbones/egemaps.py)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from qser_core.features.backbones import get_backbone
from qser_core.features.backbones.egemaps import EGEMAPS_DIM, EgemapsBackbone, make_egemaps
from qser_core.errors import AudioError, BackendError

SR = 16000
F0_MEAN = "F0semitoneFrom27.5Hz_sma3nz_amean"
LOUDNESS_MEAN = "loudness_sma3_amean"


@pytest.fixture(scope="module")
def backbone() -> EgemapsBackbone:
    return make_egemaps()


def _tones(freqs, amps, *, seconds: float = 2.0) -> torch.Tensor:
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(0)
    clips = [a * np.sin(2 * np.pi * f * t) + 0.001 * rng.standard_normal(t.size) for f, a in zip(freqs, amps)]
    return torch.tensor(np.stack(clips), dtype=torch.float32)


@pytest.fixture(scope="module")
def emodb_clips(emodb_audio) -> torch.Tensor:
    # Speaker 03, sentence a01: anger (W), neutral (N), happiness (F).
    names = ["03a01Wa.flac", "03a01Nc.flac", "03a01Fa.flac"]
    clips = []
    for name in names:
        y, sr = sf.read(emodb_audio / name, dtype="float32")
        y = librosa.resample(y, orig_sr=sr, target_sr=SR)
        clips.append(librosa.util.fix_length(y[: 3 * SR], size=3 * SR))
    return torch.tensor(np.stack(clips))


class TestAttributes:
    def test_names_rate_and_size(self, backbone):
        assert backbone.name == "egemaps" and backbone.sr == 16000 and backbone.dim == 88 == EGEMAPS_DIM
        names = backbone.feature_names
        assert len(names) == 88 and len(set(names)) == 88
        assert names[0] == F0_MEAN and LOUDNESS_MEAN in names
        assert any(n.startswith("mfcc1_sma3_amean") for n in names)
        assert names[-1] == "equivalentSoundLevel_dBp"

    def test_registry_builds_it(self):
        assert isinstance(get_backbone("egemaps"), EgemapsBackbone)


class TestSynthetic:
    def test_shape_dtype_finite(self, backbone):
        X = backbone.embed(_tones([200, 300, 150], [0.5, 0.3, 0.2]))
        assert X.shape == (3, 88) and X.dtype == torch.float32 and torch.isfinite(X).all()

    def test_pitch_of_a_tone(self, backbone):
        X = backbone.embed(_tones([200, 400], [0.5, 0.5]))
        f0 = X[:, backbone.feature_names.index(F0_MEAN)]
        expected = 12 * np.log2(np.array([200, 400]) / 27.5)  # semitones above 27.5 Hz
        np.testing.assert_allclose(f0.numpy(), expected, atol=0.1)

    def test_louder_tone_has_higher_loudness(self, backbone):
        X = backbone.embed(_tones([200, 200], [0.5, 0.05]))
        loudness = X[:, backbone.feature_names.index(LOUDNESS_MEAN)]
        assert loudness[0] > 2 * loudness[1]

    def test_deterministic(self, backbone):
        clips = _tones([220, 330], [0.4, 0.2])
        assert torch.equal(backbone.embed(clips), backbone.embed(clips))

    def test_threads_match_sequential(self, backbone):
        clips = _tones([150, 220, 330, 440], [0.4, 0.3, 0.2, 0.1])
        sequential = EgemapsBackbone(n_jobs=1).embed(clips)
        assert torch.equal(EgemapsBackbone(n_jobs=4).embed(clips), sequential)
        assert torch.equal(backbone.embed(clips[2:3])[0], sequential[2])

    def test_out_of_range_samples_are_clipped_not_wrapped(self, backbone):
        loud = _tones([200], [1.5])  # would wrap around in 16-bit PCM without clipping
        clipped = loud.clamp(-1, 32767 / 32768)
        assert torch.equal(backbone.embed(loud), backbone.embed(clipped))

    def test_silence_is_finite(self, backbone):
        assert torch.isfinite(backbone.embed(torch.zeros(1, SR))).all()

    def test_empty_batch(self, backbone):
        assert backbone.embed(torch.zeros(0, SR)).shape == (0, 88)


class TestInputs:
    def test_one_dimensional_input_is_refused(self, backbone):
        with pytest.raises(BackendError, match=r"backbone 'egemaps' embeds a batch of shape \(n_clips, samples\)"):
            backbone.embed(torch.zeros(SR))

    @pytest.mark.filterwarnings("ignore:Segment too short")
    def test_too_short_clip(self, backbone):
        with pytest.raises(AudioError, match=r"clip 0 of the batch \(400 samples = 0.025 s.*at least about 0.1 s"):
            backbone.embed(torch.rand(2, 400) - 0.5)


class TestRealSpeech:
    def test_emodb_clips(self, backbone, emodb_clips):
        X = backbone.embed(emodb_clips)
        assert X.shape == (3, 88) and torch.isfinite(X).all()
        assert torch.equal(X, backbone.embed(emodb_clips))
        f0 = X[:, backbone.feature_names.index(F0_MEAN)]
        loudness = X[:, backbone.feature_names.index(LOUDNESS_MEAN)]
        # the angry reading of the sentence is higher and louder than the neutral one
        assert f0[0] > f0[1] + 3 and loudness[0] > loudness[1]
        # voiced speech: F0 between 60 and 500 Hz
        assert ((f0 > 12 * np.log2(60 / 27.5)) & (f0 < 12 * np.log2(500 / 27.5))).all()

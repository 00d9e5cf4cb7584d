"""Tests of the PANNs backbones (qser_core/features/backbones/panns.py) and their weights (weights.py).

The published checkpoints cannot be downloaded here, so the loading code is tested on
checkpoints the tests write in the release format (``{"model": state_dict}``) under the
official key names, which are written out below as the contract.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from functools import partial

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from qser_core.features.backbones import get_backbone
from qser_core.features.backbones.panns import (
    FMAX,
    FMIN,
    HOP_LENGTH,
    N_FFT,
    N_MELS,
    SR,
    Cnn6,
    Cnn10,
    Cnn14,
    MobileNetV1,
    load_checkpoint,
    make_panns,
)
from qser_core.features.backbones.weights import (
    WEIGHTS,
    ZENODO_BASE_URL,
    check_weights_file,
    ensure_weights,
    weights_path,
    weights_url,
)
from qser_core.errors import BackendError, ConfigError

# The state dict of the released Cnn6_mAP=0.343.pth (Kong et al.'s Cnn6 with torchlibrosa's
# Spectrogram / LogmelFilterBank front end): key → shape.
CNN6_KEYS: dict[str, tuple[int, ...]] = {
    "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
    "spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
    "logmel_extractor.melW": (513, 64),
    **{f"bn0.{p}": (64,) for p in ("weight", "bias", "running_mean", "running_var")},
    "bn0.num_batches_tracked": (),
}
for _i, (_c_in, _c_out) in enumerate([(1, 64), (64, 128), (128, 256), (256, 512)], start=1):
    CNN6_KEYS[f"conv_block{_i}.conv1.weight"] = (_c_out, _c_in, 5, 5)
    for _p in ("weight", "bias", "running_mean", "running_var"):
        CNN6_KEYS[f"conv_block{_i}.bn1.{_p}"] = (_c_out,)
    CNN6_KEYS[f"conv_block{_i}.bn1.num_batches_tracked"] = ()
CNN6_KEYS.update({"fc1.weight": (512, 512), "fc1.bias": (512,), "fc_audioset.weight": (527, 512),
                  "fc_audioset.bias": (527,)})  # fmt: skip

# A few keys of the other releases (the sizes that define each architecture).
OTHER_KEYS = {
    Cnn14: {"conv_block1.conv2.weight": (64, 64, 3, 3), "conv_block6.conv2.weight": (2048, 2048, 3, 3),
            "fc1.weight": (2048, 2048), "fc_audioset.weight": (527, 2048)},
    Cnn10: {"conv_block1.conv1.weight": (64, 1, 3, 3), "conv_block4.bn2.running_var": (512,),
            "fc1.weight": (512, 512)},
    MobileNetV1: {"features.0.0.weight": (32, 1, 3, 3), "features.0.2.running_mean": (32,),
                  "features.1.0.weight": (32, 1, 3, 3), "features.1.4.weight": (64, 32, 1, 1),
                  "features.1.5.weight": (64,), "features.13.4.weight": (1024, 1024, 1, 1),
                  "fc1.weight": (1024, 1024), "fc_audioset.weight": (527, 1024)},
}  # fmt: skip
N_KEYS = {Cnn14: 84, Cnn10: 60, Cnn6: 36, MobileNetV1: 174}


def _front_end_tensors() -> dict[str, torch.Tensor]:
    """The release's front-end buffers, rebuilt independently (Hann-windowed DFT, Slaney mel)."""
    window = scipy.signal.get_window("hann", N_FFT, fftbins=True)
    k, n = np.arange(N_FFT // 2 + 1)[:, None], np.arange(N_FFT)[None, :]
    dft = np.exp(-2j * np.pi * k * n / N_FFT) * window
    mel = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    return {
        "spectrogram_extractor.stft.conv_real.weight": torch.tensor(dft.real[:, None, :], dtype=torch.float32),
        "spectrogram_extractor.stft.conv_imag.weight": torch.tensor(dft.imag[:, None, :], dtype=torch.float32),
        "logmel_extractor.melW": torch.tensor(mel.T, dtype=torch.float32),
    }


def _fake_state(keys: dict[str, tuple[int, ...]], *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random values under ``keys`` (positive variances, integer counters), real front end."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000, dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    state.update(_front_end_tensors())
    return state


@pytest.fixture(scope="module")
def cnn6_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("panns") / "Cnn6_mAP=0.343.pth"
    state = _fake_state(CNN6_KEYS)
    torch.save({"model": state}, path)
    return path, state


@pytest.fixture(scope="module")
def cnn6(cnn6_checkpoint):
    return make_panns("panns-cnn6", checkpoint=cnn6_checkpoint[0])


def _clips(n: int = 3, seconds: float = 1.0, *, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    tones = [0.3 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 4000, n)]
    return torch.tensor(np.stack(tones) + 0.01 * rng.standard_normal((n, t.size)), dtype=torch.float32)


class TestKeyContract:
    def test_cnn6_keys_and_shapes_match_the_release(self):
        state = Cnn6().state_dict()
        assert {k: tuple(v.shape) for k, v in state.items()} == CNN6_KEYS

    @pytest.mark.parametrize("cls", [Cnn14, Cnn10, MobileNetV1])
    def test_other_architectures_have_the_release_keys(self, cls):
        state = cls().state_dict()
        assert len(state) == N_KEYS[cls]
        for key, shape in OTHER_KEYS[cls].items():
            assert tuple(state[key].shape) == shape, key
        for key in _front_end_tensors():
            assert key in state

    def test_blocks_are_not_extra_state(self):
        model = Cnn6()
        assert len(model.blocks) == 5 and model.blocks[-1] is model.fc1
        assert not any(k.startswith("blocks") for k in model.state_dict())


class TestLoading:
    def test_strict_load_copies_every_tensor(self, cnn6, cnn6_checkpoint):
        _, state = cnn6_checkpoint
        loaded = cnn6.state_dict()
        assert set(loaded) == set(state)
        for key, value in state.items():
            assert torch.equal(loaded[key], value), key
        assert not cnn6.training

    def test_missing_key_is_refused(self, tmp_path):
        state = _fake_state(CNN6_KEYS)
        del state["conv_block3.bn1.running_mean"]
        path = tmp_path / "cut.pth"
        torch.save({"model": state}, path)
        with pytest.raises(BackendError, match=r"1 missing keys \['conv_block3.bn1.running_mean'\]"):
            make_panns("panns-cnn6", checkpoint=path)

    def test_checkpoint_of_another_architecture_is_refused(self, cnn6_checkpoint):
        with pytest.raises(BackendError, match="does not fit panns-cnn10.*wrong shapes"):
            make_panns("panns-cnn10", checkpoint=cnn6_checkpoint[0])

    def test_extra_key_is_refused(self, tmp_path):
        state = _fake_state(CNN6_KEYS)
        state["head.weight"] = torch.zeros(3)
        torch.save({"model": state}, tmp_path / "extra.pth")
        with pytest.raises(BackendError, match=r"1 unexpected keys \['head.weight'\]"):
            load_checkpoint(Cnn6(), tmp_path / "extra.pth")

    def test_bare_state_dict_is_refused(self, tmp_path):
        torch.save(_fake_state(CNN6_KEYS), tmp_path / "bare.pth")
        with pytest.raises(BackendError, match="must be a dict with a 'model' state dict"):
            load_checkpoint(Cnn6(), tmp_path / "bare.pth")

    def test_garbage_file_is_refused(self, tmp_path):
        (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
        with pytest.raises(BackendError, match="junk.pth cannot be read as a file of plain tensors"):
            load_checkpoint(Cnn6(), tmp_path / "junk.pth")

    def test_unknown_name(self):
        with pytest.raises(ConfigError, match="unknown PANNs backbone 'panns-cnn99'; choose one of panns-cnn14"):
            make_panns("panns-cnn99")


class TestEmbedding:
    def test_shape_dtype_and_finite(self, cnn6):
        X = cnn6.embed(_clips(3))
        assert X.shape == (3, 512) and X.dtype == torch.float32
        assert torch.isfinite(X).all() and (X >= 0).all()  # ReLU output
        assert cnn6.sr == 32000 and cnn6.dim == 512 and cnn6.name == "panns-cnn6"

    def test_deterministic_and_independent_of_the_batch(self, cnn6):
        clips = _clips(3)
        a, b = cnn6.embed(clips), cnn6.embed(clips)
        assert torch.equal(a, b)
        alone = cnn6.embed(clips[1:2])
        torch.testing.assert_close(alone[0], a[1], rtol=1e-4, atol=1e-5)

    def test_different_clips_differ(self, cnn6):
        X = cnn6.embed(_clips(2))
        assert not torch.allclose(X[0], X[1])

    def test_embedding_is_relu_fc1_of_pooled_features(self, cnn6):
        clips = _clips(2)
        with torch.no_grad():
            fmap = cnn6.feature_map(clips).mean(dim=3)
            expected = torch.relu(cnn6.fc1(fmap.amax(dim=2) + fmap.mean(dim=2)))
        torch.testing.assert_close(cnn6.embed(clips), expected)

    def test_clipwise_probabilities(self, cnn6):
        P = cnn6.clipwise(_clips(2))
        assert P.shape == (2, 527) and ((P > 0) & (P < 1)).all()

    def test_forward_is_differentiable_for_the_hybrid_model(self, cnn6):
        model = Cnn6()
        model.load_state_dict(cnn6.state_dict())
        model.train()
        out = model(_clips(2, 0.5))
        out.sum().backward()
        assert model.fc1.weight.grad is not None and model.conv_block4.conv1.weight.grad is not None
        # the front end is frozen: buffers, not parameters
        assert not any("extractor" in name for name, _ in model.named_parameters())

    @pytest.mark.parametrize("cls,dim", [(Cnn14, 2048), (Cnn10, 512), (MobileNetV1, 1024)])
    def test_every_architecture_embeds(self, cls, dim):
        torch.manual_seed(0)
        model = cls().eval()
        X = model.embed(_clips(2, 1.0))
        assert X.shape == (2, dim) and model.dim == dim and torch.isfinite(X).all()

    def test_shortest_clip(self, cnn6):
        assert cnn6.embed(torch.zeros(1, cnn6.min_samples) + 0.01).shape == (1, 512)
        with pytest.raises(BackendError, match=r"needs clips of at least 4800 samples \(0.15 s at 32000 Hz\); got 4000"):
            cnn6.embed(torch.zeros(1, 4000))

    def test_one_dimensional_input_is_refused(self, cnn6):
        with pytest.raises(BackendError, match=r"shape \(n_clips, samples\); got shape \(32000,\)"):
            cnn6.embed(torch.zeros(32000))


class TestFrontEnd:
    def test_log_mel_matches_librosa(self, cnn6):
        y = _clips(1, 1.0, seed=3)[0].numpy()
        S = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS,
                                           fmin=FMIN, fmax=FMAX, power=2.0, center=True, pad_mode="reflect")
        expected = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=None).T
        got = cnn6.log_mel(torch.tensor(y)[None])[0].numpy()
        assert got.shape == expected.shape == (1 + SR // HOP_LENGTH, N_MELS)
        loud = expected > expected.max() - 60  # float32 rounding dominates far below the peak
        np.testing.assert_allclose(got[loud], expected[loud], atol=0.02)

    def test_stft_kernels_match_torch_stft(self):
        y = _clips(1, 0.5, seed=4)
        model = Cnn6()
        power = model.spectrogram_extractor(y)
        ref = torch.stft(y, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT), center=True,
                         pad_mode="reflect", return_complex=True).abs().pow(2).transpose(1, 2)
        torch.testing.assert_close(power, ref, rtol=1e-3, atol=1e-2)

    def test_front_end_comes_from_the_checkpoint(self, tmp_path):
        state = _fake_state(CNN6_KEYS)
        state["logmel_extractor.melW"] = state["logmel_extractor.melW"] * 2  # +3.01 dB everywhere
        torch.save({"model": state}, tmp_path / "louder.pth")
        model = make_panns("panns-cnn6", checkpoint=tmp_path / "louder.pth")
        y = _clips(1, 0.5)
        diff = model.log_mel(y) - Cnn6().log_mel(y)
        torch.testing.assert_close(diff, torch.full_like(diff, 10 * np.log10(2)), atol=1e-3, rtol=0)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestWeights:
    def test_paths_and_urls(self, qser_home):
        assert weights_path("panns-cnn14") == qser_home / "weights" / "Cnn14_mAP=0.431.pth"
        assert weights_url("panns-cnn14", base_url=ZENODO_BASE_URL) == (
            "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
        )
        assert weights_url("panns-cnn6", base_url="http://mirror.example/w/") == (
            "http://mirror.example/w/Cnn6_mAP%3D0.343.pth"
        )
        assert set(WEIGHTS) == {"panns-cnn14", "panns-cnn10", "panns-cnn6", "panns-mobilenetv1"}
        assert WEIGHTS["panns-cnn14"].size == 327_428_481
        assert all(len(w.md5) == 32 for w in WEIGHTS.values())

    def test_unknown_name(self):
        with pytest.raises(ConfigError, match="backbone 'egemaps' has no downloadable weights"):
            weights_path("egemaps")

    def test_offline_failure_is_immediate_and_says_what_to_do(self, monkeypatch, tmp_path):
        monkeypatch.setenv("QSER_HOME", str(tmp_path))
        with pytest.raises(BackendError) as info:  # a refused connection fails at once (no retry loop)
            ensure_weights("panns-cnn6", base_url=f"http://127.0.0.1:{_closed_port()}/files")
        message = str(info.value)
        assert "could not download the panns-cnn6 weights" in message
        assert "cannot reach 127.0.0.1" in message
        assert f"copy Cnn6_mAP=0.343.pth (md5 e25e26b84585b14c7754c91e48efc9be) to {tmp_path / 'weights'}" in message
        assert "efficientnet-lite0" in message
        assert not (tmp_path / "weights" / "Cnn6_mAP=0.343.pth").exists()

    def test_factory_fails_clearly_offline(self, monkeypatch, tmp_path):
        monkeypatch.setenv("QSER_HOME", str(tmp_path))
        monkeypatch.setenv("QSER_WEIGHTS_URL", f"http://127.0.0.1:{_closed_port()}")
        with pytest.raises(BackendError, match="could not download the panns-mobilenetv1 weights"):
            get_backbone("panns-mobilenetv1")

    def test_served_file_with_wrong_checksum_is_not_kept(self, monkeypatch, tmp_path):
        served = tmp_path / "served"
        served.mkdir()
        (served / "Cnn6_mAP=0.343.pth").write_bytes(b"x" * 1000)
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("QSER_HOME", str(tmp_path / "home"))
        try:
            with pytest.raises(BackendError, match="md5"):
                ensure_weights("panns-cnn6", base_url=f"http://127.0.0.1:{server.server_address[1]}")
        finally:
            server.shutdown()
            server.server_close()
        assert not (tmp_path / "home" / "weights" / "Cnn6_mAP=0.343.pth").exists()

    def test_existing_wrong_file_is_refused_not_overwritten(self, monkeypatch, tmp_path):
        monkeypatch.setenv("QSER_HOME", str(tmp_path))
        path = weights_path("panns-cnn10")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"copied the wrong file")
        with pytest.raises(BackendError, match="has md5 .*, expected bfb1f1f9968938fa8ef4012b8471f5f6.*delete it"):
            ensure_weights("panns-cnn10")
        assert path.read_bytes() == b"copied the wrong file"

    def test_truncated_file_fails_on_size(self, monkeypatch, tmp_path):
        monkeypatch.setenv("QSER_HOME", str(tmp_path))
        path = weights_path("panns-cnn14")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"\0" * 10)
        with pytest.raises(BackendError, match="has 10 bytes, expected 327428481"):
            ensure_weights("panns-cnn14")

    def test_check_weights_file_accepts_the_right_file(self, tmp_path):
        path = tmp_path / "w.pth"
        path.write_bytes(b"weights")
        check_weights_file(path, md5=hashlib.md5(b"weights").hexdigest(), size=7)
        with pytest.raises(BackendError, match="has 7 bytes, expected 8"):
            check_weights_file(path, md5=hashlib.md5(b"weights").hexdigest(), size=8)

"""Tests of qser_core.features.backbones: the registry, EfficientNet-Lite0 and the random-cnn control.

(PANNs and eGeMAPS tests live with their modules' parts of this file.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qser_core.features.backbones import REGISTRY, Backbone, get_backbone
from qser_core.features.backbones.efficientnet import EfficientNetLite0, random_cnn, weights_path
from qser_core.config import BACKBONES, FeatureConfig
from qser_core.errors import BackendError, ConfigError


@pytest.fixture(scope="module")
def lite0():
    return get_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 220 * t * (1 + 0.3 * t))  # a chirp, so spectrograms have structure
    clips = np.stack([tone * (0.2 + 0.1 * i) + 0.01 * rng.standard_normal(16000) for i in range(3)])
    return torch.tensor(clips, dtype=torch.float32)


class TestRegistry:
    def test_every_config_name_is_registered(self):
        assert set(REGISTRY) == set(BACKBONES)
        assert all(":" in target for target in REGISTRY.values())

    @pytest.mark.parametrize("name", BACKBONES)
    def test_every_factory_resolves(self, name):
        import importlib

        module, _, attr = REGISTRY[name].partition(":")
        assert callable(getattr(importlib.import_module(module), attr))

    def test_unknown_name(self):
        with pytest.raises(ConfigError, match=r"unknown backbone 'resnet'; embedding.backbone must be one of"):
            get_backbone("resnet")

    def test_cached_per_process_and_per_features(self, lite0):
        assert get_backbone("efficientnet-lite0") is lite0
        other = get_backbone("efficientnet-lite0", features=FeatureConfig(n_mels=32))
        assert other is not lite0 and other.features.n_mels == 32
        assert other.net._conv_stem.weight.data_ptr() != lite0.net._conv_stem.weight.data_ptr()


class TestWeights:
    def test_state_dict_loads_strictly(self):
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        result = EfficientNetLite0().load_state_dict(state, strict=True)
        assert not result.missing_keys and not result.unexpected_keys

    def test_imagenet_features_are_sane(self):
        # Real pre-trained weights + correct architecture: a natural photo gets a confident,
        # plausible ImageNet class (sklearn's sample photo of a Chinese temple → a building class).
        from sklearn.datasets import load_sample_image

        net = get_backbone("efficientnet-lite0").net
        img = torch.tensor(load_sample_image("china.jpg"), dtype=torch.float32).permute(2, 0, 1)[None]
        img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear")
        with torch.inference_mode():
            probs = net((img - 127.0) / 128.0).softmax(-1)[0]
        buildings = {442, 497, 498, 538, 663, 698, 832}  # bell cote, church, cinema, dome, monastery, palace, stupa
        assert set(probs.topk(3).indices.tolist()) <= buildings
        assert probs.max() > 0.2

    def test_pretrained_and_random_differ(self, lite0):
        rnd = get_backbone("random-cnn")
        a = lite0.net._blocks[5]._expand_conv.weight
        b = rnd.net._blocks[5]._expand_conv.weight
        assert a.shape == b.shape and not torch.allclose(a, b)

    def test_random_is_seeded_and_leaves_global_rng_alone(self):
        torch.manual_seed(123)
        before = torch.rand(1)
        torch.manual_seed(123)
        a, b = random_cnn(), random_cnn()
        assert torch.equal(torch.rand(1), before)
        assert torch.equal(a.net._conv_head.weight, b.net._conv_head.weight)
        assert not torch.equal(random_cnn(seed=1).net._conv_head.weight, a.net._conv_head.weight)


class TestEmbed:
    @pytest.mark.parametrize("name", ["efficientnet-lite0", "random-cnn"])
    def test_shape_dtype_and_contract(self, name, waves):
        backbone = get_backbone(name)
        assert isinstance(backbone, Backbone) and backbone.name == name
        assert backbone.sr == 16000 and backbone.dim == 2560
        out = backbone.embed(waves)
        assert out.shape == (3, 2560) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert not out.requires_grad and torch.is_inference(out)

    def test_deterministic_and_batch_independent(self, lite0, waves):
        full = lite0.embed(waves)
        again = lite0.embed(waves)
        single = lite0.embed(waves[1:2])
        assert torch.equal(full, again)
        assert torch.allclose(full[1], single[0], atol=1e-4)

    def test_mean_and_max_halves(self, lite0, waves):
        out = lite0.embed(waves)
        mean, peak = out[:, :1280], out[:, 1280:]
        assert (peak >= mean - 1e-5).all() and (mean >= 0).all()  # ReLU6 activations: max >= mean >= 0
        assert (peak <= 6.0 + 1e-5).all()

    def test_pretrained_and_random_embeddings_differ(self, lite0, waves):
        rnd = get_backbone("random-cnn").embed(waves)
        assert not torch.allclose(lite0.embed(waves), rnd, atol=1e-2)

    def test_embed_restores_training_mode(self, waves):
        backbone = random_cnn()
        backbone.train()
        backbone.embed(waves)
        assert backbone.training
        stats = backbone.net._bn0.running_mean.clone()
        backbone.embed(waves)
        assert torch.equal(stats, backbone.net._bn0.running_mean)  # eval mode inside: BN stats untouched

    def test_folded_batch_norm_matches_forward_and_follows_weight_changes(self, waves):
        backbone = random_cnn(seed=3).eval()
        with torch.no_grad():
            assert torch.allclose(backbone.embed(waves), backbone(waves), atol=1e-4)
            backbone.blocks[-1]._project_conv.weight.mul_(3.0)  # in place, like an optimizer step
            assert torch.allclose(backbone.embed(waves), backbone(waves), atol=1e-4)
        assert all("fused" not in key for key in backbone.state_dict())

    def test_bad_shape(self, lite0):
        with pytest.raises(BackendError, match=r"shape \(n_clips, samples\); got shape \(16000,\)"):
            lite0.embed(torch.zeros(16000))


class TestHybridSplit:
    @pytest.mark.parametrize("k", [0, 1, 3])
    def test_frozen_then_trainable_equals_forward(self, lite0, waves, k):
        with torch.inference_mode():
            h = lite0.frozen_part(waves, trainable_blocks=k)
            assert torch.allclose(lite0.trainable_part(h, trainable_blocks=k), lite0(waves), atol=1e-4)

    def test_blocks_and_gradients_reach_last_block(self, waves):
        backbone = random_cnn()
        assert len(backbone.blocks) == 16
        backbone.requires_grad_(False)
        backbone.blocks[-1].requires_grad_(True)
        with torch.no_grad():
            h = backbone.frozen_part(waves, trainable_blocks=1)
        backbone.trainable_part(h, trainable_blocks=1).sum().backward()
        assert backbone.blocks[-1]._project_conv.weight.grad is not None
        assert backbone.blocks[-2]._project_conv.weight.grad is None

    def test_trainable_blocks_out_of_range(self, lite0, waves):
        with pytest.raises(BackendError, match=r"trainable_blocks must be between 0 and 16 .*got 17"):
            lite0.frozen_part(waves, trainable_blocks=17)

    def test_fmax_above_backbone_nyquist(self):
        from qser_core.features.backbones.efficientnet import EfficientNetBackbone

        with pytest.raises(BackendError, match=r"features.fmax=8000.0 Hz is above the Nyquist frequency .*sr=8000"):
            EfficientNetBackbone(name="random-cnn", net=EfficientNetLite0(), sr=8000)

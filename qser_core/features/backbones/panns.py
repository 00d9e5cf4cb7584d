"""PANNs backbones: AudioSet-pretrained CNNs (Cnn14, Cnn10, Cnn6, MobileNetV1).

``qser extract --set embedding.backbone=panns-cnn14`` embeds a corpus with Cnn14.

Kong et al. (2020), "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition". The networks are written here from the paper's description,
with the module and parameter names of the authors' released checkpoints (Zenodo
record 3987831), so those checkpoints load with ``strict=True``: the checkpoint is a
dict whose ``"model"`` entry is the state dict.

Front end, as in the paper and stored in every checkpoint: 32 kHz input, Hann window
1024, hop 320, power spectrogram, 64 Slaney mel bands from 50 Hz to 14 kHz,
``10·log10(max(mel, 1e-10))`` (no top-dB clip), then ``bn0`` (batch norm over mel
bins). The STFT kernels (``spectrogram_extractor.stft.conv_real/conv_imag.weight``,
the Hann-windowed DFT as 1-D convolution kernels) and the mel matrix
(``logmel_extractor.melW``, ``librosa.filters.mel(...).T``) are buffers under their
checkpoint names: they are built from librosa at construction and then replaced by
the checkpoint's own copies, so the log-mel is exactly the one the network was
trained on.

Embedding: the output of ``fc1`` after ReLU (the released code's ``embedding``;
2048-d for Cnn14, 512-d for Cnn10 and Cnn6, 1024-d for MobileNetV1), computed from
the conv features averaged over mel bins then pooled over time as max + mean.
SpecAugment and mixup (training-time augmentation of the original) are left out.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Callable

import librosa
import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from qser_core.features.backbones import Backbone
from qser_core.errors import BackendError, ConfigError

__all__ = [
    "PANNS", "SR", "N_FFT", "HOP_LENGTH", "N_MELS", "FMIN", "FMAX",
    "PannsBackbone", "Cnn14", "Cnn10", "Cnn6", "MobileNetV1", "make_panns", "load_checkpoint",
    "panns_cnn14", "panns_cnn10", "panns_cnn6", "panns_mobilenetv1",
]  # fmt: skip

SR = 32000  # sampling rate the checkpoints were trained at (Hz)
N_FFT = 1024  # STFT window (samples)
HOP_LENGTH = 320  # STFT hop (samples), 10 ms
N_MELS = 64  # mel bands
FMIN = 50.0  # lowest mel band edge (Hz)
FMAX = 14000.0  # highest mel band edge (Hz)
N_CLASSES = 527  # AudioSet classes of fc_audioset
AMIN = 1e-10  # floor of the mel power before the log


# ------------------------------------------------------------------ front end
class _Kernel(nn.Module):
    """Holds one frozen tensor under the name ``weight`` (checkpoint key ``...conv_real.weight``)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", weight)


class _Stft(nn.Module):
    def __init__(self, *, n_fft: int):
        super().__init__()
        window = scipy.signal.get_window("hann", n_fft, fftbins=True)  # librosa's periodic Hann
        k = np.arange(n_fft // 2 + 1)[:, None]
        n = np.arange(n_fft)[None, :]
        dft = np.exp(-2j * np.pi * k * n / n_fft) * window[None, :]
        self.conv_real = _Kernel(torch.as_tensor(dft.real[:, None, :], dtype=torch.float32))
        self.conv_imag = _Kernel(torch.as_tensor(dft.imag[:, None, :], dtype=torch.float32))


class _Spectrogram(nn.Module):
    """Centred (reflect-padded) power STFT as two strided convolutions: ``(n, samples) → (n, frames, bins)``."""

    def __init__(self, *, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.stft = _Stft(n_fft=n_fft)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        # The stored kernels are applied as convolutions (not torch.stft) so that the
        # checkpoint's own front end is used bit for bit; they cost about a tenth of Cnn6's multiply-adds.
        x = F.pad(y[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        real = F.conv1d(x, self.stft.conv_real.weight, stride=self.hop_length)
        imag = F.conv1d(x, self.stft.conv_imag.weight, stride=self.hop_length)
        return (real**2 + imag**2).transpose(1, 2)


class _LogMel(nn.Module):
    """Power spectrogram → dB mel spectrogram with the stored ``melW`` ``[shape=(bins, n_mels)]``."""

    def __init__(self, *, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
        super().__init__()
        mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        self.register_buffer("melW", torch.as_tensor(mel.T, dtype=torch.float32))

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=AMIN))


# ------------------------------------------------------------------ conv blocks
class _ConvBlock(nn.Module):
    """``n_convs`` × (conv k×k, no bias → batch norm → ReLU), then average pooling.

    Cnn14 and Cnn10 use two 3×3 convolutions per block, Cnn6 one 5×5 convolution;
    the names ``conv1, bn1, conv2, bn2`` are the checkpoint's.
    """

    def __init__(self, c_in: int, c_out: int, *, kernel_size: int, n_convs: int, pool: int = 2):
        super().__init__()
        self.n_convs = n_convs
        self.pool = pool
        for i in range(1, n_convs + 1):
            conv = nn.Conv2d(c_in if i == 1 else c_out, c_out, kernel_size, padding=kernel_size // 2, bias=False)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.n_convs + 1):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return F.avg_pool2d(x, self.pool) if self.pool > 1 else x


def _mobile_stem(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    # Index layout [conv, pool, bn, relu] fixes the checkpoint keys features.0.{0,2}.*;
    # PANNs pools after a stride-1 convolution instead of striding the convolution.
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.AvgPool2d(stride), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def _mobile_separable(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    # [depthwise 3×3, pool, bn, relu, pointwise 1×1, bn, relu] → keys .0, .2, .4, .5
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
        nn.AvgPool2d(stride),
        nn.BatchNorm2d(c_in),
        nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


# ------------------------------------------------------------------ backbones
class PannsBackbone(Backbone):
    """Shared front end and clip-level head of the PANNs networks.

    Subclasses build ``self._body`` (the conv stages, in order) between
    :meth:`_front_end` and the pooling head. ``forward`` is differentiable (the
    hybrid model trains the last :attr:`blocks`); :meth:`embed` runs it in eval mode
    without gradients.

    Attributes
    ----------
    name : str
        ``"panns-cnn14"``, ``"panns-cnn10"``, ``"panns-cnn6"`` or ``"panns-mobilenetv1"``.
    sr : int
        32000: waveforms must be resampled to 32 kHz first.
    dim : int
        Embedding size (the width of ``fc1``).
    min_samples : int
        Shortest clip the network accepts (one frame must survive every time pooling).
    """

    sr = SR
    n_time_pools = 0  # halvings of the time axis in the body

    def __init__(self) -> None:
        super().__init__()
        self.spectrogram_extractor = _Spectrogram(n_fft=N_FFT, hop_length=HOP_LENGTH)
        self.logmel_extractor = _LogMel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
        self.bn0 = nn.BatchNorm2d(N_MELS)

    @property
    def min_samples(self) -> int:
        # frames = 1 + samples // hop must be at least 2**n_time_pools
        return (2**self.n_time_pools - 1) * HOP_LENGTH

    @property
    def blocks(self) -> tuple[nn.Module, ...]:
        """The trainable stages in input-to-output order (conv blocks, then ``fc1``).

        A tuple rather than a ``ModuleList`` so the state dict keeps the checkpoint's keys.
        """
        return (*self._stages(), self.fc1)

    def _stages(self) -> tuple[nn.Module, ...]:
        raise NotImplementedError

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The network's input features: dB log-mel ``[shape=(n, frames, n_mels)]`` before ``bn0``."""
        return self.logmel_extractor(self.spectrogram_extractor(waveforms))

    def _check_length(self, waveforms: torch.Tensor) -> None:
        if waveforms.shape[-1] < self.min_samples:
            raise BackendError(
                f"backbone {self.name!r} needs clips of at least {self.min_samples} samples "
                f"({self.min_samples / SR:.2f} s at {SR} Hz); got {waveforms.shape[-1]} samples; "
                "use a longer audio.duration"
            )

    def feature_map(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Conv feature map ``[shape=(n, channels, frames', mels')]`` of waveforms at 32 kHz."""
        self._check_length(waveforms)
        x = self.log_mel(waveforms)[:, None]  # (n, 1, frames, mels)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # normalise each mel bin
        for stage in self._stages():
            x = self._run_stage(stage, x)
        return x

    def _run_stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return stage(x)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Embedding ``[shape=(n, dim)]``: ReLU(fc1(max_t + mean_t of the mel-averaged features))."""
        x = self.feature_map(waveforms).mean(dim=3)
        x = x.amax(dim=2) + x.mean(dim=2)
        x = F.dropout(x, p=0.5, training=self.training)
        return F.relu(self.fc1(x))

    def clipwise(self, waveforms: torch.Tensor) -> torch.Tensor:
        """AudioSet tag probabilities ``[shape=(n, 527)]`` (sigmoid of ``fc_audioset``), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return torch.sigmoid(self.fc_audioset(self(waveforms.float())))
        finally:
            self.train(was_training)


class _CnnBackbone(PannsBackbone):
    """Cnn14 / Cnn10 / Cnn6: VGG-like stacks of :class:`_ConvBlock` named ``conv_block1…``."""

    widths: tuple[int, ...] = ()
    kernel_size = 3
    n_convs = 2

    def __init__(self) -> None:
        super().__init__()
        c_in = 1
        for i, width in enumerate(self.widths, start=1):
            # Cnn14's sixth block keeps its resolution (pool 1): five time halvings in all.
            pool = 2 if i <= 5 else 1
            block = _ConvBlock(c_in, width, kernel_size=self.kernel_size, n_convs=self.n_convs, pool=pool)
            setattr(self, f"conv_block{i}", block)
            c_in = width
        self.fc1 = nn.Linear(self.dim, self.dim)
        self.fc_audioset = nn.Linear(self.dim, N_CLASSES)

    def _stages(self) -> tuple[nn.Module, ...]:
        return tuple(getattr(self, f"conv_block{i}") for i in range(1, len(self.widths) + 1))

    def _run_stage(self, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(stage(x), p=0.2, training=self.training)


class Cnn14(_CnnBackbone):
    """PANNs Cnn14 (mAP 0.431): six blocks of two 3×3 convs, 64→2048 channels; 2048-d embedding."""

    name = "panns-cnn14"
    widths = (64, 128, 256, 512, 1024, 2048)
    dim = 2048
    n_time_pools = 5


class Cnn10(_CnnBackbone):
    """PANNs Cnn10 (mAP 0.380): four blocks of two 3×3 convs, 64→512 channels; 512-d embedding."""

    name = "panns-cnn10"
    widths = (64, 128, 256, 512)
    dim = 512
    n_time_pools = 4


class Cnn6(_CnnBackbone):
    """PANNs Cnn6 (mAP 0.343): four blocks of one 5×5 conv, 64→512 channels; 512-d embedding."""

    name = "panns-cnn6"
    widths = (64, 128, 256, 512)
    kernel_size = 5
    n_convs = 1
    dim = 512
    n_time_pools = 4


class MobileNetV1(PannsBackbone):
    """PANNs MobileNetV1 (mAP 0.389): a stem and 13 depthwise-separable blocks, 32→1024 channels; 1024-d."""

    name = "panns-mobilenetv1"
    dim = 1024
    n_time_pools = 5
    # (c_out, stride) of the 13 separable blocks after the stem (1 → 32, stride 2)
    _layout = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
               (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        layers = [_mobile_stem(1, 32, 2)]
        c_in = 32
        for c_out, stride in self._layout:
            layers.append(_mobile_separable(c_in, c_out, stride))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(1024, 1024)
        self.fc_audioset = nn.Linear(1024, N_CLASSES)

    def _stages(self) -> tuple[nn.Module, ...]:
        return tuple(self.features)


_ARCHITECTURES: dict[str, type[PannsBackbone]] = {cls.name: cls for cls in (Cnn14, Cnn10, Cnn6, MobileNetV1)}
PANNS = tuple(_ARCHITECTURES)


# ------------------------------------------------------------------ loading
def load_checkpoint(model: PannsBackbone, path: str | os.PathLike, *, trusted: bool = False) -> PannsBackbone:
    """Load a PANNs checkpoint (``{"model": state_dict}``) into ``model`` with ``strict=True``.

    Parameters
    ----------
    model : PannsBackbone
        The network of the checkpoint's architecture.
    path : str or PathLike
        ``.pth`` file as published (a dict whose ``"model"`` entry is the state dict).
    trusted : bool, default=False
        The file's checksum matched a published checkpoint: if it cannot be read as
        plain tensors (``weights_only=True``), it may be unpickled in full.

    Returns
    -------
    PannsBackbone
        ``model``, in eval mode.

    Raises
    ------
    BackendError
        The file cannot be read, is not ``{"model": state_dict}``, or its keys or
        shapes differ from the architecture's (the message lists a few).
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not trusted:
            raise BackendError(
                f"checkpoint {path} cannot be read as a file of plain tensors: it is corrupt, or holds other "
                "objects and its checksum was not verified; use the published file (delete it to download it again)"
            ) from None
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # checksum-verified official file
    except (OSError, RuntimeError, EOFError) as exc:
        raise BackendError(f"cannot read checkpoint {path}: {exc}; delete it to download it again") from exc
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        keys = list(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise BackendError(
            f"checkpoint {path} must be a dict with a 'model' state dict (the PANNs release format); got {keys}"
        )
    state = checkpoint["model"]
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
             for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]  # fmt: skip
    if missing or unexpected or wrong:
        raise BackendError(
            f"checkpoint {path} does not fit {model.name}: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}, {len(wrong)} wrong shapes {wrong[:3]}; "
            "check that the file is the checkpoint of this architecture"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


def make_panns(
    name: str,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> PannsBackbone:
    """A PANNs backbone with its AudioSet weights, in eval mode.

    Parameters
    ----------
    name : str
        ``"panns-cnn14"``, ``"panns-cnn10"``, ``"panns-cnn6"`` or ``"panns-mobilenetv1"``.
    checkpoint : str, PathLike or None, default=None
        Checkpoint file to load; ``None`` downloads (once) and verifies the published
        one (:func:`qser_core.features.backbones.weights.ensure_weights`).
    progress : callable or None, default=None
        ``progress(done_bytes, total_bytes, message)`` while downloading.

    Returns
    -------
    PannsBackbone
        ``sr`` 32000; ``embed(waveforms (n, samples)) → (n, dim)``.

    Raises
    ------
    ConfigError
        ``name`` is not a PANNs backbone.
    BackendError
        The weights cannot be downloaded or do not fit the architecture.
    """
    if name not in _ARCHITECTURES:
        raise ConfigError(f"unknown PANNs backbone {name!r}; choose one of {', '.join(PANNS)}")
    trusted = checkpoint is None
    if checkpoint is None:
        from qser_core.features.backbones.weights import ensure_weights

        checkpoint = ensure_weights(name, progress=progress)
    return load_checkpoint(_ARCHITECTURES[name](), checkpoint, trusted=trusted)


# Registry entries: qser_core.features.backbones.REGISTRY calls these with no arguments; each
# downloads its published checkpoint on first use (Cnn14: 327 MB; the others 20-25 MB).
def panns_cnn14() -> PannsBackbone:
    return make_panns("panns-cnn14")


def panns_cnn10() -> PannsBackbone:
    return make_panns("panns-cnn10")


def panns_cnn6() -> PannsBackbone:
    return make_panns("panns-cnn6")


def panns_mobilenetv1() -> PannsBackbone:
    return make_panns("panns-mobilenetv1")

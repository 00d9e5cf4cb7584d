"""Backbones: pre-trained networks (and two controls) that turn clips into embeddings.

``qser extract --set embedding.backbone=panns-cnn14`` runs one of them over a corpus.

Every backbone is a :class:`Backbone` (a ``torch.nn.Module``) with a ``name``, the
sampling rate ``sr`` it wants, the embedding size ``dim`` and
``embed(waveforms) -> (n, dim)``. :func:`get_backbone` builds one by name (the names
are ``qser_core.config.BACKBONES``) and keeps it for the rest of the process. Each
backbone's module is imported only when first asked for, so a missing optional
dependency (openSMILE, PANNs weights) only matters to the backbone that needs it.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from typing import Callable

import torch

from qser_core.config import BACKBONES, FeatureConfig
from qser_core.errors import BackendError, ConfigError

__all__ = ["Backbone", "get_backbone", "REGISTRY"]


class Backbone(torch.nn.Module):
    """Base class of every backbone: waveforms in, one embedding per clip out.

    Subclasses set the class or instance attributes below and implement
    :meth:`forward` (a differentiable waveform → embedding map, used by the hybrid
    model) or override :meth:`embed` directly (non-differentiable front ends such
    as openSMILE).

    Attributes
    ----------
    name : str
        Registry name (one of ``qser_core.config.BACKBONES``).
    sr : int
        Sampling rate (Hz) the waveforms passed to :meth:`embed` must have.
    dim : int
        Size of one embedding.
    """

    name: str = ""
    sr: int = 16000
    dim: int = 0

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch of clips, without gradients and in eval mode.

        Parameters
        ----------
        waveforms : torch.Tensor [shape=(n, samples)]
            Mono float waveforms at :attr:`sr`.

        Returns
        -------
        torch.Tensor [shape=(n, dim)]
            float32 embeddings, one row per clip.
        """
        waveforms = _check_waveforms(waveforms, self.name)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                out = self(waveforms)
        finally:
            self.train(was_training)
        return out.float()

    def extra_repr(self) -> str:
        return f"name={self.name!r}, sr={self.sr}, dim={self.dim}"


def _check_waveforms(waveforms, name: str) -> torch.Tensor:
    if not isinstance(waveforms, torch.Tensor):
        waveforms = torch.as_tensor(waveforms)
    if waveforms.ndim != 2:
        raise BackendError(
            f"backbone {name!r} embeds a batch of shape (n_clips, samples); got shape {tuple(waveforms.shape)}; "
            "stack clips of equal length (audio.load_batch) or add a batch axis with waveforms[None]"
        )
    return waveforms.float()


#: name → "module:factory"; the factory is called as ``factory(features=FeatureConfig)``
#: (or ``factory()`` where it takes no ``features``) and returns a :class:`Backbone`.
REGISTRY: dict[str, str] = {
    "efficientnet-lite0": "qser_core.features.backbones.efficientnet:efficientnet_lite0",
    "random-cnn": "qser_core.features.backbones.efficientnet:random_cnn",
    "panns-cnn14": "qser_core.features.backbones.panns:panns_cnn14",
    "panns-cnn10": "qser_core.features.backbones.panns:panns_cnn10",
    "panns-cnn6": "qser_core.features.backbones.panns:panns_cnn6",
    "panns-mobilenetv1": "qser_core.features.backbones.panns:panns_mobilenetv1",
    "egemaps": "qser_core.features.backbones.egemaps:egemaps",
}
assert set(REGISTRY) == set(BACKBONES), "every config.BACKBONES name needs a registry entry"

_CACHE: dict[tuple[str, tuple], Backbone] = {}
_LOCK = threading.Lock()


def _factory(name: str) -> Callable[..., Backbone]:
    module_name, _, attr = REGISTRY[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(
            f"backbone {name!r} cannot be loaded: importing {module_name} failed ({exc}); "
            "install the missing package or choose another embedding.backbone"
        ) from exc
    return getattr(module, attr)


def get_backbone(name: str, *, features: FeatureConfig | None = None, sr: int | None = None) -> Backbone:
    """The backbone called ``name``, in eval mode, built once per process.

    Parameters
    ----------
    name : str
        One of ``qser_core.config.BACKBONES``.
    features : FeatureConfig or None, default=None
        Front-end settings for backbones that compute their own log-mel
        (``efficientnet-lite0``, ``random-cnn``); ``None`` means the defaults.
        Backbones with a fixed front end (PANNs, eGeMAPS) ignore it.
    sr : int or None, default=None
        Sampling rate the clips come at (``audio.sr``), for backbones that compute their own
        log-mel at any rate (``efficientnet-lite0``, ``random-cnn``); ``None`` means their
        default (16 kHz). Backbones with a fixed rate ignore it: their ``sr`` says what they
        need, and :func:`qser_core.features.embeddings.embed_waveforms` resamples to it.

    Returns
    -------
    Backbone
        Shared instance: callers must not train or modify it in place (copy it first,
        e.g. ``copy.deepcopy``, as the hybrid model does).

    Raises
    ------
    ConfigError
        ``name`` is not a registered backbone.
    BackendError
        The backbone's module or weights cannot be loaded.
    """
    if name not in REGISTRY:
        raise ConfigError(
            f"unknown backbone {name!r}; embedding.backbone must be one of {', '.join(BACKBONES)}"
        )
    features = features if features is not None else FeatureConfig()
    key = (name, tuple(sorted(features.key_dict().items())), sr)
    with _LOCK:
        if key not in _CACHE:
            factory = _factory(name)
            # Backbones with a fixed front end (PANNs, eGeMAPS) take neither ``features`` nor ``sr``.
            takes = inspect.signature(factory).parameters
            kwargs = {"features": features} if "features" in takes else {}
            if "sr" in takes and sr is not None:
                kwargs["sr"] = int(sr)
            backbone = factory(**kwargs)
            backbone.eval()
            _CACHE[key] = backbone
        return _CACHE[key]

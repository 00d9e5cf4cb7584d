"""eGeMAPS: the classic hand-crafted baseline (88 openSMILE functionals per clip).

``qser extract --set embedding.backbone=egemaps`` computes them for a corpus.

Eyben et al. (2016), "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for
Voice Research and Affective Computing": the extended set eGeMAPSv02 summarises
pitch, jitter, shimmer, loudness, formants, spectral slope, MFCC 1-4, voiced/unvoiced
segment lengths and so on over a clip in 88 functionals. They are computed by the
openSMILE C++ library through the ``opensmile`` package, one clip at a time, at
16 kHz.

Speed: about 30 ms per 3 s clip on one core. openSMILE runs through ctypes, which
releases the GIL, and ``opensmile.Smile`` builds a fresh native instance per call,
so clips run in a thread pool (1.85x faster with 2 threads on an otherwise idle
2-core machine; no gain when the cores are busy).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from qser_core.features.backbones import Backbone, _check_waveforms
from qser_core.errors import AudioError, BackendError

__all__ = ["EgemapsBackbone", "make_egemaps", "egemaps", "EGEMAPS_SR", "EGEMAPS_DIM"]

EGEMAPS_SR = 16000  # rate the clips are analysed at (Hz)
EGEMAPS_DIM = 88  # functionals in eGeMAPSv02
# openSMILE reads 16-bit PCM: samples are scaled by 32768 and cast, so anything
# outside [-1, 32767/32768] would wrap around instead of clipping.
_PCM_MAX = 32767 / 32768


class EgemapsBackbone(Backbone):
    """openSMILE eGeMAPSv02 functionals as a (non-trainable) backbone.

    Parameters
    ----------
    n_jobs : int or None, default=None
        Threads that run clips in parallel; ``None`` means ``min(4, os.cpu_count())``.

    Attributes
    ----------
    name : str
        ``"egemaps"``.
    sr : int
        16000.
    dim : int
        88.
    feature_names : list of str
        The 88 functional names, in column order (e.g. ``F0semitoneFrom27.5Hz_sma3nz_amean``).

    Examples
    --------
    >>> import torch
    >>> t = torch.arange(48000) / 16000
    >>> X = EgemapsBackbone().embed(0.5 * torch.sin(2 * torch.pi * 200 * t)[None])
    >>> tuple(X.shape)
    (1, 88)
    """

    name = "egemaps"
    sr = EGEMAPS_SR
    dim = EGEMAPS_DIM
    split_batches = False  # clips already run in its own thread pool

    def __init__(self, *, n_jobs: int | None = None) -> None:
        super().__init__()
        try:
            import opensmile
        except ImportError as exc:  # pragma: no cover - opensmile is a pinned dependency
            raise BackendError(
                f"backbone 'egemaps' needs the opensmile package ({exc}); "
                "install it with `pip install opensmile` or choose another embedding.backbone"
            ) from exc
        self.n_jobs = n_jobs
        self._smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.Functionals,
        )
        self.feature_names = list(self._smile.feature_names)
        if len(self.feature_names) != EGEMAPS_DIM:  # pragma: no cover - guards an opensmile change
            raise BackendError(
                f"openSMILE eGeMAPSv02 gave {len(self.feature_names)} functionals, expected {EGEMAPS_DIM}; "
                "install the pinned opensmile version"
            )

    def _one(self, y: np.ndarray) -> np.ndarray:
        # Smile.__call__ is process_signal without building a DataFrame:
        # (channels, features, frames) with one frame at the functionals level.
        return self._smile(y, EGEMAPS_SR)[0, :, 0]

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The 88 eGeMAPS functionals of each clip.

        Parameters
        ----------
        waveforms : torch.Tensor [shape=(n, samples)]
            Mono waveforms at 16 kHz, in [-1, 1] (louder samples are clipped).

        Returns
        -------
        torch.Tensor [shape=(n, 88)]
            float32 functionals, columns in :attr:`feature_names` order.

        Raises
        ------
        BackendError
            ``waveforms`` is not 2-D.
        AudioError
            A clip is too short for openSMILE to produce functionals (NaN output).
        """
        waveforms = _check_waveforms(waveforms, self.name)
        clips = np.clip(waveforms.detach().cpu().numpy().astype(np.float32), -1.0, _PCM_MAX)
        if len(clips) == 0:
            return torch.zeros((0, EGEMAPS_DIM), dtype=torch.float32)
        n_jobs = self.n_jobs or min(4, os.cpu_count() or 1)
        if n_jobs > 1 and len(clips) > 1:
            with ThreadPoolExecutor(max_workers=min(n_jobs, len(clips))) as pool:
                rows = list(pool.map(self._one, clips))
        else:
            rows = [self._one(y) for y in clips]
        out = np.stack(rows).astype(np.float32)
        bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
        if bad.size:
            i = int(bad[0])
            raise AudioError(
                f"eGeMAPS gave no finite functionals for clip {i} of the batch "
                f"({clips.shape[1]} samples = {clips.shape[1] / EGEMAPS_SR:.3f} s at {EGEMAPS_SR} Hz); "
                "clips must be at least about 0.1 s long: use a longer audio.duration"
            )
        return torch.from_numpy(out)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`embed` (openSMILE is not differentiable)."""
        return self.embed(waveforms)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", n_jobs={self.n_jobs}"


def make_egemaps(*, n_jobs: int | None = None) -> EgemapsBackbone:
    """The eGeMAPSv02 functionals backbone (88-d, 16 kHz).

    Parameters
    ----------
    n_jobs : int or None, default=None
        Threads for clips in parallel (``None``: ``min(4, os.cpu_count())``).

    Returns
    -------
    EgemapsBackbone
    """
    return EgemapsBackbone(n_jobs=n_jobs)


def egemaps() -> EgemapsBackbone:
    """Registry entry (``qser_core.features.backbones.REGISTRY["egemaps"]``)."""
    return make_egemaps()

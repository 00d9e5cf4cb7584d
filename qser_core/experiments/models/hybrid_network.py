"""The hybrid model: last backbone blocks → linear reduction (PCA init) → PQC, trained end to end.

``qser hybrid --set train.trainable_blocks=1 --set reduce.n_qubits=8`` trains one and compares it
with the frozen-backbone quantum head on the same split and seed.

:class:`HybridModel` chains the trainable tail of a CNN backbone (its last
``train.trainable_blocks`` blocks, the head convolution and batch norm, and the same
mean+max pooling as the frozen embedding), an ``nn.Linear(dim, n_qubits)`` and a
:class:`~qser_core.heads.quantum.QuantumModule`. The linear layer is the fitted
:class:`~qser_core.features.reduce.QubitReducer` folded into one affine map (StandardScaler,
PCA and the (0, π) MinMax scaling are all affine), so at initialisation the hybrid
model encodes exactly the angles the reducer gives. The reducer's clipping to
[0, π] is dropped: it is not affine, and its gradient is zero outside the range.

:func:`train_hybrid` runs the whole experiment on the single speaker-disjoint split:

1. the frozen front (log-mel → stem → all but the last blocks) runs once per clip,
   without gradients, and its activations (float32, in memory) are the training
   inputs, so each epoch only runs the tail and the PQC;
2. the reducer is fitted on the training rows and the frozen-backbone quantum head is
   trained on them (the baseline, identical to ``qser train`` with ``head.kind=quantum``);
3. the hybrid model starts from that reducer and (by default) that head's PQC and
   readout, and :func:`qser_core.heads.training.fit_module` trains all of it (Adam, early
   stopping on validation UA, best-checkpoint restore, the run context's events and cancel);
4. both are scored on the test speakers and the run is recorded (``run_type="hybrid"``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError
from qser_core.progress import RunContext

__all__ = [
    "HYBRID_BACKBONES",
    "TAIL_LR_SCALE",
    "REDUCTION_LR_SCALE",
    "MAX_FRONT_BYTES",
    "HybridModel",
    "check_hybrid_config",
    "front_activations",
    "learning_rate_scales",
    "predict_in_batches",
]

#: Backbones whose blocks can be trained end to end (they expose ``frozen_part`` / ``trainable_part``).
HYBRID_BACKBONES = ("efficientnet-lite0", "random-cnn")
#: Learning rate of the backbone tail and of the linear reduction, relative to ``train.lr``.
#: ``train.lr`` (0.05 by default) suits the PQC's angles; an Adam step of that size on
#: pre-trained conv weights (|w| ~ 0.05) or on the PCA-initialised reduction (|w| ~ 0.01)
#: would wipe out what they start from, so they move 250x slower (an Adam step of ~2e-4,
#: the best of 1e-3, 2e-4 and 4e-5 measured on the demo corpus).
TAIL_LR_SCALE = 0.004
REDUCTION_LR_SCALE = 0.004
_PREDICT_BATCH = 256  # clips per forward pass when scoring (bounds the tail's activation memory)
#: Largest front-activation array kept in memory. Per clip (3 s, default features): 3840 floats for
#: 1-4 trainable blocks, 8512 for 5-7, 29184 for 13-14, 154624 for all 16 (4.6 GB on CREMA-D).
MAX_FRONT_BYTES = 4 * 2**30


# ------------------------------------------------------------------------------ the model
class HybridModel(nn.Module):
    """Backbone tail → linear reduction → PQC + readout: front activations in, ``(B, 6)`` logits out.

    Parameters
    ----------
    backbone : Backbone
        A CNN backbone with ``frozen_part`` and ``trainable_part`` (see :data:`HYBRID_BACKBONES`).
        It is deep-copied: the shared instance from ``get_backbone`` is never modified.
    reducer : QubitReducer
        Fitted on the backbone's embeddings; its :meth:`~qser_core.features.reduce.QubitReducer.affine` map
        initialises :attr:`reduction`.
    trainable_blocks : int, default=1
        Last backbone blocks trained (0 = only the head convolution and its batch norm).
    n_layers, encoding, ansatz, executor
        The PQC (a :class:`~qser_core.heads.circuits.CircuitSpec` on ``n_qubits`` of the reducer) and
        what runs it, as in :class:`~qser_core.heads.quantum.QuantumModule`.
    head : QuantumHead or QuantumModule or None, default=None
        A trained quantum head of the same circuit; its PQC weights and readout are
        copied (warm start). ``None``: fresh weights from the global torch seed.

    Attributes
    ----------
    backbone : Backbone
        The private copy. Front parameters have ``requires_grad=False``; it always runs in
        eval mode, so batch norm keeps its pre-trained statistics (its affine parameters
        in the tail still train): batch statistics of small minibatches would be noisy and
        would break the equality with the reducer at initialisation.
    reduction : nn.Linear [dim → n_qubits]
    quantum : QuantumModule
    n_qubits : int

    Examples
    --------
    >>> model = HybridModel(get_backbone("efficientnet-lite0"), reducer, trainable_blocks=1)  # doctest: +SKIP
    >>> model(model.front(waveforms)).shape  # doctest: +SKIP
    torch.Size([4, 6])
    """

    def __init__(self, backbone, reducer, *, trainable_blocks: int = 1, n_layers: int = 2,
                 encoding: str = "angle-ry", ansatz: str = "strong", executor: str = "torch", head=None):
        super().__init__()
        from qser_core.heads.circuits import CircuitSpec
        from qser_core.heads.quantum import QuantumModule

        _check_backbone(backbone)
        n_blocks = len(backbone.blocks)
        if not isinstance(trainable_blocks, int) or not 0 <= trainable_blocks <= n_blocks:
            raise ConfigError(f"train.trainable_blocks must be between 0 and {n_blocks} for {backbone.name}; "
                              f"got {trainable_blocks!r}")
        W, b = reducer.affine()
        if W.shape[1] != backbone.dim:
            raise DataError(f"the reducer was fitted on {W.shape[1]}-dim embeddings but backbone {backbone.name!r} "
                            f"gives {backbone.dim}; fit it on this backbone's embeddings")
        self.trainable_blocks = trainable_blocks
        self.n_qubits = int(W.shape[0])
        self.backbone = copy.deepcopy(backbone)
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        for p in self.tail_parameters():
            p.requires_grad_(True)
        self.reduction = nn.Linear(backbone.dim, self.n_qubits)
        with torch.no_grad():
            self.reduction.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
            self.reduction.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
        spec = CircuitSpec(self.n_qubits, n_layers, encoding=encoding, ansatz=ansatz)
        self.quantum = QuantumModule(spec, executor=executor)
        if head is not None:
            module = getattr(head, "module_", head)
            try:
                self.quantum.load_state_dict(module.state_dict())
            except (RuntimeError, AttributeError) as exc:
                raise ConfigError(
                    f"the head to start from does not match the hybrid circuit (n_qubits={self.n_qubits}, "
                    f"n_layers={n_layers}, encoding={encoding!r}, ansatz={ansatz!r}): {exc}; pass a QuantumHead "
                    "trained with the same head settings, or head=None"
                ) from exc
        self.train(False)

    @classmethod
    def from_config(cls, config: QserConfig, reducer, *, head=None) -> "HybridModel":
        """The model ``config`` describes (``embedding.backbone``, ``train.trainable_blocks``, ``head.*``)."""
        from qser_core.features.backbones import get_backbone

        check_hybrid_config(config)
        backbone = get_backbone(config.embedding.backbone, features=config.features)
        h = config.head
        return cls(backbone, reducer, trainable_blocks=config.train.trainable_blocks, n_layers=h.n_layers,
                   encoding=h.encoding, ansatz=h.ansatz, executor=h.executor, head=head)

    # ---------------------------------------------------------------- parts
    def tail_modules(self) -> list[nn.Module]:
        """The trained backbone modules: the last ``trainable_blocks`` blocks, head conv and its batch norm."""
        return self.backbone.tail_modules(trainable_blocks=self.trainable_blocks)

    def tail_parameters(self) -> list[nn.Parameter]:
        """Parameters of :meth:`tail_modules` (the backbone weights that train)."""
        return [p for m in self.tail_modules() for p in m.parameters()]

    def train(self, mode: bool = True) -> "HybridModel":
        """Set the training mode of the reduction and PQC; the backbone copy stays in eval mode."""
        super().train(mode)
        self.backbone.eval()  # frozen batch-norm statistics (see the class docstring)
        return self

    def front(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frozen activations ``(n, C, H, W)`` of waveforms ``(n, samples)`` at ``backbone.sr`` (no gradients)."""
        with torch.no_grad():  # not inference_mode: the result may enter an autograd graph (forward_waveforms)
            return self.backbone.frozen_part(torch.as_tensor(waveforms).float(),
                                             trainable_blocks=self.trainable_blocks)

    def embed(self, h: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n, dim)`` from front activations (tail + mean/max pooling, differentiable)."""
        return self.backbone.trainable_part(h, trainable_blocks=self.trainable_blocks)

    def angles(self, h: torch.Tensor) -> torch.Tensor:
        """Rotation angles ``(n, n_qubits)`` the PQC encodes (unclipped)."""
        return self.reduction(self.embed(h))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, 6)`` from front activations ``(n, C, H, W)``."""
        # the backbone runs channels_last (faster depthwise convolutions on CPU); stored rows are NCHW
        return self.quantum(self.angles(h.contiguous(memory_format=torch.channels_last)))

    def forward_waveforms(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, 6)`` of waveforms ``(n, samples)``; gradients reach the tail, never the front."""
        return self(self.front(waveforms))

    def n_trainable(self) -> int:
        """Trainable parameters (tail + reduction + PQC + readout)."""
        return int(sum(p.numel() for p in self.parameters() if p.requires_grad))


class _LrScale(nn.Module):
    """Parametrisation ``w = factor * v``: Adam moves ``v`` by about ``lr`` per step, so ``w`` by ``factor * lr``.

    ``fit_module`` has one learning rate for every parameter; this gives the backbone tail and
    the reduction their own ("equalised learning rate") without a second training loop.
    """

    def __init__(self, factor: float):
        super().__init__()
        self.factor = float(factor)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.factor

    def right_inverse(self, w: torch.Tensor) -> torch.Tensor:
        return w / self.factor


@contextlib.contextmanager
def learning_rate_scales(groups: list[tuple[list[nn.Module], float]]):
    """Register :class:`_LrScale` on the trainable parameters of each module group; remove on exit."""
    registered = []
    try:
        for modules, factor in groups:
            if factor == 1.0:
                continue
            for module in modules:
                for sub in list(module.modules()):
                    for name, p in list(sub.named_parameters(recurse=False)):
                        if p.requires_grad:
                            parametrize.register_parametrization(sub, name, _LrScale(factor))
                            registered.append((sub, name))
        yield
    finally:  # back to plain parameters holding the trained values (picklable, no per-forward cost)
        for sub, name in registered:
            parametrize.remove_parametrizations(sub, name, leave_parametrized=True)


# ------------------------------------------------------------------------- front activations
_FRONT_CACHE: dict[tuple, np.ndarray] = {}  # the last corpus's activations (one entry: they can be large)


def _check_backbone(backbone) -> None:
    if not all(hasattr(backbone, a) for a in ("frozen_part", "trainable_part", "tail_modules", "blocks")):
        raise ConfigError(
            f"backbone {getattr(backbone, 'name', backbone)!r} has no trainable blocks for the hybrid model; "
            f"set embedding.backbone to one of {', '.join(HYBRID_BACKBONES)}"
        )


def check_hybrid_config(config: QserConfig) -> None:
    """Raise :class:`ConfigError` unless ``config.embedding.backbone`` supports the hybrid model."""
    if config.embedding.backbone not in HYBRID_BACKBONES:
        raise ConfigError(
            f"the hybrid model trains backbone blocks end to end, which embedding.backbone="
            f"{config.embedding.backbone!r} does not offer; set embedding.backbone to one of "
            f"{', '.join(HYBRID_BACKBONES)}"
        )


def _corpus_key(paths: list[str], config: QserConfig, trainable_blocks: int) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for p in paths:
        try:
            st = os.stat(p)
            digest.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:  # decoding names the missing file; the key only has to differ
            digest.update(f"{os.path.abspath(p)}\0missing\n".encode())
    return digest.hexdigest(), config.digest("audio", "features", "embedding"), trainable_blocks


def front_activations(table, config: QserConfig, *, context: RunContext | None = None, errors: str = "raise"):
    """Frozen-front activations of every usable clip in ``table`` (computed once per process and corpus).

    Clips are decoded by :func:`qser_core.data.audio.load_batches`, as embedding extraction decodes
    them: a clip that cannot be used (corrupt, empty, silent, constant, NaN-filled, too short or
    long) is left out on its own and the others go on.

    Parameters
    ----------
    table : pandas.DataFrame
        Corpus table with a ``path`` column.
    config : QserConfig
        ``audio`` (loading), ``features`` and ``embedding.backbone`` (the network),
        ``train.trainable_blocks`` (where the front ends), ``embedding.batch_size``.
    context : RunContext or None, default=None
        ``progress(done, total, message)`` after every batch; its cancel token is checked between batches.
    errors : {"raise", "skip"}, default="raise"
        ``"raise"``: after the whole table, raise one :class:`AudioError` naming every clip that
        cannot be used. ``"skip"``: return them (what :func:`train_hybrid` does, so they reach the
        corpus report).

    Returns
    -------
    H : np.ndarray [shape=(n_usable, C, H, W)], float32
        With ``errors="raise"``, one row per table row.
    (H, bad) : tuple
        With ``errors="skip"``: rows of the usable clips (table order kept) and ``bad``, a list of
        ``(path, reason)`` for the others.

    Raises
    ------
    ConfigError
        The backbone has no trainable blocks, or the activations would exceed :data:`MAX_FRONT_BYTES`.
    DataError
        No clip of the table can be used.
    AudioError
        With ``errors="raise"``: some clips cannot be used (all of them named).
    TrainingCancelled
        The context's token was cancelled.
    """
    from qser_core.data.audio import unusable_clips_error
    from qser_core.features.backbones import get_backbone

    if errors not in ("raise", "skip"):
        raise ConfigError(f"errors must be 'raise' or 'skip'; got {errors!r}")
    check_hybrid_config(config)
    backbone = get_backbone(config.embedding.backbone, features=config.features)
    _check_backbone(backbone)
    paths = [str(p) for p in table["path"]]
    key = _corpus_key(paths, config, config.train.trainable_blocks)
    if key not in _FRONT_CACHE:
        H, bad = _compute_front(paths, backbone, config, RunContext.of(context))
        _FRONT_CACHE.clear()
        _FRONT_CACHE[key] = (H, bad)
    H, bad = _FRONT_CACHE[key]
    if errors == "skip":
        return H, list(bad)
    if bad:
        raise unusable_clips_error(bad, len(paths), done="the hybrid model needs every clip of the table")
    return H


def _compute_front(paths, backbone, config, context: RunContext) -> tuple[np.ndarray, list[tuple[str, str]]]:
    from qser_core.data.audio import load_batches

    k, a = config.train.trainable_blocks, config.audio
    total, out, n, bad = len(paths), None, 0, []
    batches = load_batches(paths, batch_size=config.embedding.batch_size, sr=backbone.sr, duration=a.duration,
                           top_db=a.top_db, max_seconds=a.max_seconds)
    with torch.inference_mode():
        for start, waves, failed in batches:
            context.check_cancelled("the hybrid run was cancelled while computing the frozen backbone "
                                    "activations; nothing was trained")
            bad.extend((paths[start + i], reason) for i, reason in failed.items())
            if len(waves):
                h = backbone.frozen_part(torch.from_numpy(waves), trainable_blocks=k).numpy()
                out = _front_array(h, total, k) if out is None else out
                out[n:n + len(h)] = h
                n += len(h)
            context.report(min(start + config.embedding.batch_size, total), total, f"frozen {backbone.name} front")
    if out is None:
        reasons = "".join(f"\n  {p}: {r}" for p, r in bad[:10])
        raise DataError(f"none of the {total} clips of the corpus table can be used{reasons}\n"
                        "index a corpus with usable clips first (`qser data index DIR` lists what it skips)")
    return out[:n], bad


def _front_array(h: np.ndarray, total: int, k: int) -> np.ndarray:
    """Room for ``total`` rows shaped like ``h``'s (refused beyond :data:`MAX_FRONT_BYTES`)."""
    need = total * h[0].size * 4
    if need > MAX_FRONT_BYTES:
        raise ConfigError(
            f"train.trainable_blocks={k} needs the frozen activations of {total} clips in memory, "
            f"{need / 2**30:.1f} GiB (more than {MAX_FRONT_BYTES / 2**30:.0f} GiB); "
            "lower train.trainable_blocks (1-4 keep the smallest activations)"
        )
    return np.empty((total, *h.shape[1:]), dtype=np.float32)


def predict_in_batches(fn, H: np.ndarray) -> torch.Tensor:
    """``fn`` over front activations in chunks (no per-sample loop; bounded activation memory)."""
    with torch.inference_mode():
        return torch.cat([fn(torch.from_numpy(H[i:i + _PREDICT_BATCH])) for i in range(0, len(H), _PREDICT_BATCH)])

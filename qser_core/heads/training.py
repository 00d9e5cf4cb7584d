"""The one torch training loop shared by every head (classical and quantum).

``qser train`` and ``qser evaluate`` end here for each fold and seed.

Every head is an ``nn.Module`` mapping ``(B, n_features)`` angles to ``(B, 6)`` logits,
trained by :func:`fit_module` with the same optimiser (Adam), minibatch order
(seeded ``torch.Generator``), loss (cross-entropy), early stopping (validation UA)
and best-checkpoint restore, so that classical and quantum heads are compared fairly.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
import numpy as np
import torch
from torch import nn

from qser_core.errors import ConfigError, DataError, TrainingCancelled
from qser_core.progress import Event, RunContext

__all__ = ["EpochLog", "History", "fit_module", "seed_everything", "predict_logits"]


@dataclass
class EpochLog:
    """Metrics of one finished epoch (``val_*`` are NaN without a validation set)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_ua: float
    seconds: float


@dataclass
class History:
    """What :func:`fit_module` did.

    Attributes
    ----------
    epochs : list of EpochLog
        One entry per finished epoch.
    best_epoch : int
        Epoch (1-based) whose weights were restored; 0 if none finished.
    best_score : float
        Validation UA of that epoch (or minus the training loss without validation).
    stopped_early : bool
        Early stopping ended training before ``epochs``.
    cancelled : bool
        A :class:`CancelToken` ended training.
    seconds : float
        Wall time of the whole fit.
    """

    epochs: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    stopped_early: bool = False
    cancelled: bool = False
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (identical configurations give identical results)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def predict_logits(module: nn.Module, X: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Logits of ``module`` for all rows of ``X`` in one batched forward (eval mode, no grad)."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        out = module(torch.as_tensor(np.asarray(X), dtype=torch.float32))
    module.train(was_training)
    return out


def _balanced_accuracy(y: torch.Tensor, pred: torch.Tensor) -> float:
    """Mean recall over the classes present in ``y`` (torch, no per-sample loop)."""
    n_classes = int(max(y.max(), pred.max()).item()) + 1
    support = torch.bincount(y, minlength=n_classes).double()
    hits = torch.bincount(y[pred == y], minlength=n_classes).double()
    present = support > 0
    return float((hits[present] / support[present]).mean())


def fit_module(
    module: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    *,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    epochs: int = 200,
    lr: float = 0.05,
    batch_size: int = 64,
    patience: int = 30,
    weight_decay: float = 0.0,
    seed: int = 0,
    context: RunContext | None = None,
) -> History:
    """Train ``module`` with Adam + cross-entropy, early stopping and best-checkpoint restore.

    Parameters
    ----------
    module : nn.Module
        Maps ``(B, n_features)`` float32 to ``(B, n_classes)`` logits; trained in place.
    X : np.ndarray [shape=(n, n_features)]
        Training inputs.
    y : np.ndarray [shape=(n,)]
        Integer labels.
    X_val, y_val : np.ndarray or None, default=None
        Validation set; early stopping watches its UA (balanced accuracy). Without it,
        the training loss is watched.
    epochs : int, default=200
        Upper bound on epochs.
    lr : float, default=0.05
        Adam learning rate.
    batch_size : int, default=64
        Minibatch size (the last batch of an epoch may be smaller).
    patience : int, default=30
        Epochs without improvement before stopping.
    weight_decay : float, default=0.0
        Adam L2 penalty.
    seed : int, default=0
        Seeds the minibatch order (a ``torch.Generator``) and the global RNGs; initialise
        the module's weights under :func:`seed_everything` too for full reproducibility.
    context : RunContext or None, default=None
        Emits an ``epoch`` :class:`~qser_core.progress.Event` (payload: the :class:`EpochLog`) after
        each epoch. Its cancel token is checked between batches: the loop stops, the best weights so
        far are restored and ``History.cancelled`` is True. If not a single epoch finished there is
        nothing to restore and :class:`~qser_core.errors.TrainingCancelled` is raised.

    Returns
    -------
    History

    Raises
    ------
    DataError
        Inputs of mismatched lengths or an empty training set.
    ConfigError
        Non-positive ``epochs``, ``batch_size`` or ``patience``.
    TrainingCancelled
        Cancelled before the first epoch finished.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if int(value) < 1:
            raise ConfigError(f"train.{name} must be at least 1; got {value!r}")
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if Xt.ndim != 2 or len(Xt) != len(yt) or len(Xt) == 0:
        raise DataError(
            f"X must be a non-empty 2-D array with one label per row; got X shape {tuple(Xt.shape)} and "
            f"{len(yt)} labels. Pass matching arrays"
        )
    has_val = X_val is not None and y_val is not None and len(y_val) > 0
    if has_val:
        Xv = torch.as_tensor(np.asarray(X_val, dtype=np.float32))
        yv = torch.as_tensor(np.asarray(y_val, dtype=np.int64))
        if Xv.ndim != 2 or Xv.shape[1] != Xt.shape[1] or len(Xv) != len(yv):
            raise DataError(
                f"X_val must be 2-D with {Xt.shape[1]} columns and one label per row; got X_val shape "
                f"{tuple(Xv.shape)} and {len(yv)} labels"
            )

    context = RunContext.of(context)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    history = History()
    best_state = None
    since_best = 0
    t_start = time.perf_counter()
    n = len(Xt)

    for epoch in range(1, int(epochs) + 1):
        t0 = time.perf_counter()
        module.train()
        order = torch.randperm(n, generator=gen)
        total_loss, total_hits, seen = 0.0, 0, 0
        for start in range(0, n, batch_size):
            if context.cancelled:
                history.cancelled = True
                break
            idx = order[start : start + batch_size]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            logits = module(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            total_loss += float(loss.detach()) * len(idx)
            total_hits += int((logits.detach().argmax(1) == yb).sum())
            seen += len(idx)
        if history.cancelled:
            break
        train_loss, train_acc = total_loss / seen, total_hits / seen
        if has_val:
            logits_v = predict_logits(module, Xv)
            val_loss = float(loss_fn(logits_v, yv))
            pred_v = logits_v.argmax(1)
            val_acc = float((pred_v == yv).double().mean())
            val_ua = _balanced_accuracy(yv, pred_v)
            score = val_ua
        else:
            val_loss = val_acc = val_ua = float("nan")
            score = -train_loss
        log = EpochLog(epoch, train_loss, train_acc, val_loss, val_acc, val_ua, time.perf_counter() - t0)
        history.epochs.append(log)
        if score > history.best_score:
            history.best_score, history.best_epoch = score, epoch
            best_state = copy.deepcopy(module.state_dict())
            since_best = 0
        else:
            since_best += 1
        context.emit(Event("epoch", payload=log))
        if since_best >= patience:
            history.stopped_early = epoch < epochs
            break

    history.seconds = time.perf_counter() - t_start
    if best_state is None:
        raise TrainingCancelled(
            "training was cancelled before the first epoch finished, so there is no model to keep; "
            "start the run again and let at least one epoch finish"
        )
    module.load_state_dict(best_state)
    module.eval()
    return history

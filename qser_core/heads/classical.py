"""Classical heads: logistic regression, MLP and parameter-matched MLP.

``qser evaluate --set head.kind=mlp-matched`` evaluates an MLP as large as the quantum head.

Each head is trained to convergence with the well-kept solver where one exists:

- ``logreg`` is scikit-learn's ``LogisticRegression`` (L-BFGS, multinomial, L2), solved
  to its optimum; its penalty is ``train.weight_decay`` in the same units as Adam's
  (``C = 1 / (weight_decay * n_train)``, so the objective equals the torch heads'
  ``mean cross-entropy + weight_decay / 2 * ||W||^2``). The fitted weights are copied
  into an ``nn.Linear``, so predictions, saving and export work as for every head.
  Measured on EmoDB (8 PCA components, 5 speaker-disjoint folds): the former Adam-trained
  linear layer scored UA 0.453 where ``LogisticRegression()`` on the same angles scored 0.479.
- ``mlp`` and ``mlp-matched`` go through the shared torch loop
  (:func:`qser_core.heads.training.fit_module`, the one the quantum head uses) until the
  validation UA stops improving (``train.patience``), best epoch restored.

Learning rate, weight decay (and, for the quantum head, layers) are chosen per split on the
validation speakers by :mod:`qser_core.experiments.tuning`, with the same budget for every head.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, log_loss
from torch import nn

from qser_core.config import N_CLASSES
from qser_core.errors import ConfigError
from qser_core.heads.base import BaseTorchHead
from qser_core.heads.training import EpochLog, History
from qser_core.progress import Event, RunContext

__all__ = ["ClassicalHead", "mlp_params", "matched_hidden", "logreg_C", "CLASSICAL_KINDS", "MATCH_TOLERANCE"]

CLASSICAL_KINDS = ("logreg", "mlp", "mlp-matched")
MATCH_TOLERANCE = 0.10  # mlp-matched: relative parameter-count gap allowed


LBFGS_MAX_ITER = 5000  # enough for every EmoDB/CREMA-D fold to converge; a miss warns
# scikit-learn's default tol (1e-4) stops short of the optimum by enough that a different BLAS thread count
# (a Ray worker runs with OMP_NUM_THREADS=1) flipped 2 of 864 demo predictions; at 1e-8 both land on the same
# optimum (the problem is strictly convex) and a sweep cell reproduces the run made one by one.
LBFGS_TOL = 1e-8


def logreg_C(weight_decay: float, n_train: int) -> float:
    """scikit-learn's ``C`` for an L2 penalty given in Adam's weight-decay units.

    Adam with ``weight_decay=wd`` minimises ``mean CE + wd / 2 * ||W||^2``; scikit-learn
    minimises ``C * sum CE + 1 / 2 * ||W||^2``, the same optimum when ``C = 1 / (wd * n)``.
    ``wd = 0`` means no penalty (``inf``).

    Examples
    --------
    >>> logreg_C(1e-2, 300)
    0.3333333333333333
    """
    return float("inf") if weight_decay <= 0 else 1.0 / (float(weight_decay) * int(n_train))


def mlp_params(n_features: int, hidden: int, *, hidden_bias: bool = True) -> int:
    """Trainable parameters of ``Linear(n_features, hidden) → ReLU → Linear(hidden, 6)``."""
    return hidden * (n_features + int(hidden_bias)) + N_CLASSES * (hidden + 1)


def matched_hidden(n_features: int, target_params: int) -> tuple[int, bool, int]:
    """MLP size whose parameter count is closest to ``target_params``.

    The hidden width alone moves the count in steps of ``n_features + 7``, too coarse for
    the smallest quantum heads (e.g. 20 parameters at 2 qubits); dropping the hidden-layer
    bias gives a second, interleaved series of sizes, which brings every qubit × layer ×
    ansatz combination of the config within 10%.

    Returns
    -------
    hidden : int
        Width (at least 1).
    hidden_bias : bool
        Whether the hidden layer has a bias (preferred on ties).
    params : int
        The parameter count (callers record the gap; it can exceed 10% only for targets
        outside the config's range).
    """
    per_unit = n_features + 1 + N_CLASSES
    best = max(1, round((target_params - N_CLASSES) / per_unit))
    candidates = [(h, bias) for h in range(max(1, best - 2), best + 3) for bias in (True, False)]
    hidden, bias = min(
        candidates, key=lambda hb: (abs(mlp_params(n_features, hb[0], hidden_bias=hb[1]) - target_params), not hb[1], hb[0])
    )
    return hidden, bias, mlp_params(n_features, hidden, hidden_bias=bias)


class ClassicalHead(BaseTorchHead):
    """Logistic regression, MLP or parameter-matched MLP head (torch, shared training loop).

    Parameters
    ----------
    kind : {"logreg", "mlp", "mlp-matched"}, default="logreg"
        ``logreg``: one linear layer; ``mlp``: one hidden ReLU layer of ``hidden`` units;
        ``mlp-matched``: one hidden layer sized so the parameter count is within 10% of
        ``target_params`` (the closest size if none is, with a warning; see ``param_match_``).
    hidden : int, default=32
        Hidden units of ``mlp``.
    target_params : int or None, default=None
        Parameter count to match (``mlp-matched`` only; required there).
    epochs, lr, batch_size, patience, seed
        As in :func:`qser_core.heads.training.fit_module` (``logreg`` uses none but ``seed``:
        L-BFGS solves it to the optimum).
    weight_decay : float, default=0.0
        L2 penalty; for ``logreg`` converted to ``C`` by :func:`logreg_C` (0 = unpenalised).

    Attributes
    ----------
    module_ : nn.Module
    history_ : qser_core.heads.training.History
    n_params_ : int
        Trainable parameters.
    hidden_ : int or None
        Hidden width used (None for logreg).
    param_match_ : dict or None
        ``mlp-matched``: ``target``, ``params``, ``rel_gap``, ``hidden_bias``, ``within_tolerance``.
    C_ : float or None
        ``logreg``: the inverse penalty scikit-learn used (None for the MLPs).
    classes_ : np.ndarray
        ``arange(6)``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.uniform(0, np.pi, (60, 4)), np.arange(60) % 6
    >>> head = ClassicalHead("mlp", hidden=8, epochs=2).fit(X, y)
    >>> head.predict(X).shape, head.n_params_
    ((60,), 94)
    """

    def __init__(self, kind: str = "logreg", *, hidden: int = 32, target_params: int | None = None, epochs: int = 200,
                 lr: float = 0.05, batch_size: int = 64, patience: int = 30, weight_decay: float = 0.0, seed: int = 0):
        self.kind = kind
        self.hidden = hidden
        self.target_params = target_params
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.weight_decay = weight_decay
        self.seed = seed

    def fit(self, X, y, *, X_val=None, y_val=None, context: RunContext | None = None):
        if self.kind != "logreg":
            self.C_ = None
            return super().fit(X, y, X_val=X_val, y_val=y_val, context=context)
        return self._fit_logreg(X, y, X_val=X_val, y_val=y_val, context=RunContext.of(context))
    fit.__doc__ = BaseTorchHead.fit.__doc__

    def _fit_logreg(self, X, y, *, X_val, y_val, context: RunContext):
        """Multinomial L2 logistic regression by L-BFGS, copied into an ``nn.Linear``."""
        X, y, X_val, y_val = self._check_fit_inputs(X, y, X_val, y_val)
        context.check_cancelled("training was cancelled before the logistic regression was fitted; "
                                "start the run again")
        start = time.perf_counter()
        module = self._build_module(X.shape[1])
        self.C_ = logreg_C(float(self.weight_decay), len(X))
        # lbfgs + l1_ratio=0 is multinomial L2 logistic regression; C=inf means no penalty (scikit-learn >= 1.8).
        model = LogisticRegression(C=self.C_, l1_ratio=0.0, solver="lbfgs", max_iter=LBFGS_MAX_ITER,
                                   tol=LBFGS_TOL, random_state=int(self.seed)).fit(X.astype(np.float64), y)
        full = np.zeros((N_CLASSES, X.shape[1])), np.zeros(N_CLASSES)
        full[0][model.classes_], full[1][model.classes_] = model.coef_, model.intercept_
        if len(model.classes_) < N_CLASSES:  # a class absent from training is never predicted
            full[1][np.setdiff1d(np.arange(N_CLASSES), model.classes_)] = -1e4
        with torch.no_grad():
            module.weight.copy_(torch.as_tensor(full[0], dtype=torch.float32))
            module.bias.copy_(torch.as_tensor(full[1], dtype=torch.float32))
        self.module_ = module.eval()
        self.n_features_in_, self.classes_ = X.shape[1], np.arange(N_CLASSES)
        self.n_params_ = int(sum(p.numel() for p in module.parameters()))
        self.history_ = self._one_step_history(model, X, y, X_val, y_val, time.perf_counter() - start)
        context.emit(Event("epoch", payload=self.history_.epochs[0]))
        return self

    @staticmethod
    def _one_step_history(model, X, y, X_val, y_val, seconds) -> History:
        """A one-"epoch" :class:`History` so curves, summaries and records treat logreg like every head."""
        labels = np.arange(N_CLASSES)
        train_loss = float(log_loss(y, model.predict_proba(X), labels=model.classes_))
        train_acc = float(np.mean(model.predict(X) == y))
        val_loss = val_acc = val_ua = float("nan")
        if X_val is not None and len(X_val):
            pred = model.predict(X_val)
            proba = np.full((len(X_val), N_CLASSES), 1e-12)
            proba[:, model.classes_] = model.predict_proba(X_val)
            val_loss = float(log_loss(y_val, proba, labels=labels))
            val_acc, val_ua = float(np.mean(pred == y_val)), float(balanced_accuracy_score(y_val, pred))
        log = EpochLog(1, train_loss, train_acc, val_loss, val_acc, val_ua, seconds)
        score = val_ua if np.isfinite(val_ua) else -train_loss
        return History(epochs=[log], best_epoch=1, best_score=score, stopped_early=False, seconds=seconds)

    def _build_module(self, n_features: int) -> nn.Module:
        if self.kind not in CLASSICAL_KINDS:
            raise ConfigError(
                f"ClassicalHead kind must be one of {', '.join(CLASSICAL_KINDS)}; got {self.kind!r} "
                "(use QuantumHead for kind='quantum')"
            )
        self.param_match_ = None
        if self.kind == "logreg":
            self.hidden_ = None
            return nn.Linear(n_features, N_CLASSES)
        if self.kind == "mlp":
            hidden = int(self.hidden)
            if hidden < 1:
                raise ConfigError(f"hidden must be at least 1; got {self.hidden!r}")
        else:
            if self.target_params is None or int(self.target_params) < 1:
                raise ConfigError(
                    f"mlp-matched needs target_params (the quantum head's parameter count); got {self.target_params!r}. "
                    "Build it with make_head(...) or pass target_params"
                )
            hidden, bias, params = matched_hidden(n_features, int(self.target_params))
            gap = abs(params - self.target_params) / self.target_params
            self.param_match_ = {"target": int(self.target_params), "params": params, "rel_gap": gap,
                                 "hidden_bias": bias, "within_tolerance": gap <= MATCH_TOLERANCE}
            if gap > MATCH_TOLERANCE:
                warnings.warn(
                    f"mlp-matched: no MLP is within {MATCH_TOLERANCE:.0%} of {self.target_params} parameters; "
                    f"using the closest ({params}, hidden={hidden})", stacklevel=3,
                )
            self.hidden_ = hidden
            return nn.Sequential(nn.Linear(n_features, hidden, bias=bias), nn.ReLU(), nn.Linear(hidden, N_CLASSES))
        self.hidden_ = hidden
        return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))

"""Classical heads (logistic regression, MLP, parameter-matched MLP) and the head factory.

``qser evaluate --set head.kind=mlp-matched`` evaluates an MLP as large as the quantum head.

Every head, classical or quantum, is a torch module trained by the same loop
(:func:`qser_core.heads.training.fit_module`): same optimiser, minibatches, early stopping and
seeds. That is what makes the classical/quantum comparison fair.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from qser_core.config import HEAD_KINDS, HeadConfig, TrainConfig
from qser_core.errors import ConfigError, DataError
from qser_core.heads.training import fit_module, predict_logits, seed_everything
from qser_core.progress import CancelToken

__all__ = ["BaseTorchHead", "ClassicalHead", "make_head", "mlp_params", "matched_hidden", "N_CLASSES"]

N_CLASSES = 6
CLASSICAL_KINDS = ("logreg", "mlp", "mlp-matched")
MATCH_TOLERANCE = 0.10  # mlp-matched: relative parameter-count gap allowed


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


class BaseTorchHead(ClassifierMixin, BaseEstimator):
    """Shared estimator logic: input checks, the training loop, predictions.

    Subclasses implement ``_build_module(n_features) -> nn.Module`` and may set
    ``_min_features`` / ``_max_features``.
    """

    _min_features, _max_features = 1, None

    # --------------------------------------------------------------- checks
    def _check_X(self, X, *, name: str = "X", n_features: int | None = None) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"{name} must be a 2-D array (n_samples, n_features); got shape {X.shape}. Reshape it")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise DataError(f"{name} must hold real numbers; got dtype {X.dtype}")
        X = X.astype(np.float32)
        low, high = self._min_features, self._max_features
        if n_features is not None and X.shape[1] != n_features:
            raise DataError(
                f"{name} has {X.shape[1]} columns but the head was fitted on {n_features}; pass the same features"
            )
        if X.shape[1] < low or (high is not None and X.shape[1] > high):
            allowed = f"{low}..{high}" if high is not None else f"at least {low}"
            raise DataError(
                f"{name} must have {allowed} columns (one per qubit); got {X.shape[1]}. Reduce the features with "
                "QubitReducer(n_components=...) first"
            )
        if len(X) == 0:
            raise DataError(f"{name} has no rows; pass at least one sample")
        if not np.isfinite(X).all():
            raise DataError(f"{name} contains NaN or infinite values ({int((~np.isfinite(X)).sum())} entries); clean them first")
        return X

    @staticmethod
    def _check_y(y, *, n_rows: int, name: str = "y") -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_rows:
            raise DataError(f"{name} must be 1-D with one label per row ({n_rows}); got shape {y.shape}")
        if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
            raise DataError(f"{name} must hold integer labels 0..5 (index into EMOTIONS); got dtype {y.dtype}")
        y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= N_CLASSES:
            bad = sorted(set(y[(y < 0) | (y >= N_CLASSES)].tolist()))[:5]
            raise DataError(f"{name} must hold labels 0..5 (index into EMOTIONS); got {bad}")
        return y

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, X_val=None, y_val=None, callback=None, cancel: CancelToken | None = None):
        """Train the head.

        Parameters
        ----------
        X : array-like [shape=(n, n_features)]
            Training inputs (qubit angles for the quantum head).
        y : array-like [shape=(n,)]
            Integer labels 0..5.
        X_val, y_val : array-like or None, default=None
            Validation set for early stopping (validation UA).
        callback : callable or None, default=None
            ``callback(EpochLog)`` after every epoch.
        cancel : CancelToken or None, default=None
            Stop between batches; the best model so far is kept (``history_.cancelled``).

        Returns
        -------
        self
        """
        X = self._check_X(X)
        y = self._check_y(y, n_rows=len(X))
        if (X_val is None) != (y_val is None):
            raise DataError("pass both X_val and y_val or neither; got only one of them")
        if X_val is not None:
            X_val = self._check_X(X_val, name="X_val", n_features=X.shape[1])
            y_val = self._check_y(y_val, n_rows=len(X_val), name="y_val")
        seed_everything(int(self.seed))  # the same seed → the same initial weights
        module = self._build_module(X.shape[1])
        self.history_ = fit_module(
            module, X, y, X_val=X_val, y_val=y_val, epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
            patience=self.patience, weight_decay=self.weight_decay, seed=int(self.seed),
            callback=callback, cancel=cancel,
        )
        self.module_ = module
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.arange(N_CLASSES)
        self.n_params_ = int(sum(p.numel() for p in module.parameters() if p.requires_grad))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[shape=(n, 6)]`` (softmax of the logits)."""
        check_is_fitted(self, "module_")
        X = self._check_X(X, n_features=self.n_features_in_)
        return torch.softmax(predict_logits(self.module_, X), dim=1).double().numpy()

    def predict(self, X) -> np.ndarray:
        """Predicted labels ``[shape=(n,)]`` (0..5)."""
        return self.predict_proba(X).argmax(axis=1)


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
    epochs, lr, batch_size, patience, weight_decay, seed
        As in :func:`qser_core.heads.training.fit_module`.

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
    classes_ : np.ndarray
        ``arange(6)``.
    n_features_in_ : int

    Examples
    --------
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


def make_head(head: HeadConfig, train: TrainConfig, *, n_qubits: int, seed: int) -> BaseTorchHead:
    """The estimator the config describes (classical or quantum), unfitted.

    Parameters
    ----------
    head : HeadConfig
        ``kind``, circuit settings and ``hidden``.
    train : TrainConfig
        Optimiser and early-stopping settings (``seeds`` is ignored; pass ``seed``).
    n_qubits : int
        Input features (= qubits of the quantum head; also what ``mlp-matched`` matches).
    seed : int
        Seed of weight initialisation and minibatch order.

    Returns
    -------
    ClassicalHead or QuantumHead
    """
    from qser_core.heads.quantum import QuantumHead, quantum_param_count

    common = dict(epochs=train.epochs, lr=train.lr, batch_size=train.batch_size, patience=train.patience,
                  weight_decay=train.weight_decay, seed=seed)
    if head.kind not in HEAD_KINDS:
        raise ConfigError(f"head.kind must be one of {', '.join(HEAD_KINDS)}; got {head.kind!r}")
    if head.kind == "quantum":
        return QuantumHead(n_layers=head.n_layers, encoding=head.encoding, ansatz=head.ansatz,
                           simulator=head.simulator, **common)
    target = None
    if head.kind == "mlp-matched":
        target = quantum_param_count(n_qubits=n_qubits, n_layers=head.n_layers, ansatz=head.ansatz)
    return ClassicalHead(head.kind, hidden=head.hidden, target_params=target, **common)

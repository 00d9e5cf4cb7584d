"""Classical heads: logistic regression, MLP and parameter-matched MLP.

``qser evaluate --set head.kind=mlp-matched`` evaluates an MLP as large as the quantum head.

Every head, classical or quantum, is a torch module trained by the same loop
(:func:`qser_core.heads.training.fit_module`): same optimiser, minibatches, early stopping and
seeds. That is what makes the classical/quantum comparison fair.
"""

from __future__ import annotations

import warnings

from torch import nn

from qser_core.config import N_CLASSES
from qser_core.errors import ConfigError
from qser_core.heads.base import BaseTorchHead

__all__ = ["ClassicalHead", "mlp_params", "matched_hidden", "CLASSICAL_KINDS", "MATCH_TOLERANCE"]

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

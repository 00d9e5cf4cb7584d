"""Shared estimator logic of every head: input checks, the one training loop, predictions.

Subclasses (:class:`~qser_core.heads.classical.ClassicalHead`,
:class:`~qser_core.heads.quantum.QuantumHead`) only build their torch module; this module
imports neither, so the heads never import each other.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from qser_core.config import N_CLASSES
from qser_core.errors import DataError
from qser_core.heads.training import fit_module, predict_logits, seed_everything
from qser_core.progress import RunContext

__all__ = ["BaseTorchHead"]


class BaseTorchHead(ClassifierMixin, BaseEstimator):
    """Shared estimator logic: input checks, the training loop, predictions.

    Subclasses implement ``_build_module(n_features) -> nn.Module`` and may set
    ``_min_features`` / ``_max_features``.
    """

    _min_features, _max_features = 1, None

    # --------------------------------------------------------------- checks
    def _check_fit_inputs(self, X, y, X_val, y_val):
        """``fit``'s arrays validated together: the training pair, and the validation pair (both or neither)."""
        X = self._check_X(X)
        y = self._check_y(y, n_rows=len(X))
        if (X_val is None) != (y_val is None):
            raise DataError("pass both X_val and y_val or neither; got only one of them")
        if X_val is not None:
            X_val = self._check_X(X_val, name="X_val", n_features=X.shape[1])
            y_val = self._check_y(y_val, n_rows=len(X_val), name="y_val")
        return X, y, X_val, y_val

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
    def fit(self, X, y, *, X_val=None, y_val=None, context: RunContext | None = None):
        """Train the head.

        Parameters
        ----------
        X : array-like [shape=(n, n_features)]
            Training inputs (qubit angles for the quantum head).
        y : array-like [shape=(n,)]
            Integer labels 0..5.
        X_val, y_val : array-like or None, default=None
            Validation set for early stopping (validation UA).
        context : RunContext or None, default=None
            An ``epoch`` event after every epoch; its cancel token stops training between batches
            and the best model so far is kept (``history_.cancelled``).

        Returns
        -------
        self
        """
        X, y, X_val, y_val = self._check_fit_inputs(X, y, X_val, y_val)
        seed_everything(int(self.seed))  # the same seed → the same initial weights
        module = self._build_module(X.shape[1])
        self.history_ = fit_module(
            module, X, y, X_val=X_val, y_val=y_val, epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
            patience=self.patience, weight_decay=self.weight_decay, seed=int(self.seed),
            context=context,
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

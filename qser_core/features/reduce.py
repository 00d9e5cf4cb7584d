"""From backbone embeddings to qubit rotation angles.

``qser evaluate`` fits one :class:`QubitReducer` per fold, on that fold's training rows.

A quantum head with ``n_qubits`` wires encodes one feature per wire as a rotation
angle, so the 2560-dim embeddings are standardised, projected on their first
``n_qubits`` principal components, and scaled to ``[0, π]``. Every step is a
scikit-learn transformer fitted on training rows only; angles of rows outside the
training range are clipped into ``[0, π]``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from qser_core.config import QUBIT_RANGE
from qser_core.errors import ConfigError

__all__ = ["QubitReducer", "MIN_COMPONENTS", "MAX_COMPONENTS"]

MIN_COMPONENTS, MAX_COMPONENTS = QUBIT_RANGE  # components = qubits of the quantum head


class QubitReducer(TransformerMixin, BaseEstimator):
    """StandardScaler → PCA(n_components) → MinMaxScaler((0, π), clip=True).

    Parameters
    ----------
    n_components : int, default=8
        Principal components kept = qubits of the quantum head (2-12), at most
        ``min(n_samples, n_features)`` of the rows passed to :meth:`fit`.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted ``scale → pca → angles`` pipeline.
    explained_variance_ratio_ : np.ndarray [shape=(n_components,)]
        Share of the (standardised) variance each kept component explains.
    n_features_in_ : int
        Embedding size seen in :meth:`fit`.

    See Also
    --------
    sklearn.decomposition.PCA

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((40, 16))
    >>> angles = QubitReducer(n_components=4).fit_transform(X)
    >>> angles.shape, bool(angles.min() >= 0), bool(angles.max() <= np.pi)
    ((40, 4), True, True)
    """

    def __init__(self, n_components: int = 8) -> None:
        self.n_components = n_components

    def _check_n_components(self, n_samples: int, n_features: int) -> int:
        k = self.n_components
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not MIN_COMPONENTS <= k <= MAX_COMPONENTS:
            raise ConfigError(
                f"n_components (reduce.n_qubits) must be an integer between {MIN_COMPONENTS} and "
                f"{MAX_COMPONENTS}; got {k!r}"
            )
        limit = min(n_samples, n_features)
        if k > limit:
            raise ConfigError(
                f"n_components={k} is more than the data allows: PCA keeps at most min(n_samples, n_features) = "
                f"min({n_samples}, {n_features}) = {limit} components; lower reduce.n_qubits or fit on more rows"
            )
        return int(k)

    def fit(self, X, y=None) -> "QubitReducer":
        """Fit scaler, PCA and angle scaling on ``X`` (training rows only).

        Parameters
        ----------
        X : array-like [shape=(n_samples, n_features)]
            Embeddings of the training rows.
        y : ignored

        Returns
        -------
        self : QubitReducer
        """
        X = check_array(X, dtype=(np.float64, np.float32))
        k = self._check_n_components(*X.shape)
        self.pipeline_ = Pipeline([
            ("scale", StandardScaler()),
            # Eigen-decomposition of the covariance: exact like the full SVD, ~3x faster on
            # CREMA-D-sized training sets (6,000 x 2,560); randomized SVD is faster still but its
            # fit_transform differs from fit + transform and its 12th component drifts by ~0.5%.
            # With fewer rows than half the dims the d x d covariance costs more than the SVD of X
            # (2,560 dims: 48 rows 24x, 500 rows 3.6x slower; 2,000 rows 1.3x faster), so use the SVD.
            ("pca", PCA(n_components=k, svd_solver="covariance_eigh" if 2 * X.shape[0] >= X.shape[1] else "full")),
            ("angles", MinMaxScaler(feature_range=(0.0, math.pi), clip=True)),
        ]).fit(X)
        self.explained_variance_ratio_ = self.pipeline_.named_steps["pca"].explained_variance_ratio_
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Rotation angles in ``[0, π]`` of the rows of ``X``.

        Parameters
        ----------
        X : array-like [shape=(n_samples, n_features_in_)]

        Returns
        -------
        np.ndarray [shape=(n_samples, n_components)]
        """
        check_is_fitted(self, "pipeline_")
        X = check_array(X, dtype=(np.float64, np.float32))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but QubitReducer was fitted with {self.n_features_in_}; "
                "use embeddings from the same backbone as in fit"
            )
        return self.pipeline_.transform(X)

    def scores(self, X) -> np.ndarray:
        """Principal-component scores of the rows of ``X`` (standardised and projected, before the angle scaling).

        Returns
        -------
        np.ndarray [shape=(n_samples, n_components)]
        """
        check_is_fitted(self, "pipeline_")
        return self.pipeline_[:-1].transform(check_array(X, dtype=(np.float64, np.float32)))

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted reducer as one affine map ``angles = X @ W.T + b`` (the clipping to [0, π] left out).

        Scaling, projection and angle scaling are all affine; the hybrid model starts its linear
        reduction layer from this map.

        Returns
        -------
        W : np.ndarray [shape=(n_components, n_features_in_)], float64
        b : np.ndarray [shape=(n_components,)], float64

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The reducer is not fitted.
        ConfigError
            A pipeline step is not one of the three affine steps.
        """
        check_is_fitted(self, "pipeline_")
        W, b = None, None  # running map x -> x @ W.T + b; None = identity
        for _, step in self.pipeline_.steps:
            A, c = _affine_step(step)
            W, b = (A, c) if W is None else (A @ W, A @ b + c)
        return W, b

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` on the same rows."""
        return self.fit(X, y).transform(X)


def _affine_step(step) -> tuple[np.ndarray, np.ndarray]:
    """``(A, c)`` with ``step.transform(x) == A @ x + c`` (unclipped) for the reducer's three step types."""
    if isinstance(step, StandardScaler):
        n = step.n_features_in_
        scale = np.broadcast_to(np.asarray(step.scale_ if step.with_std else 1.0, float), (n,))
        mean = np.broadcast_to(np.asarray(step.mean_ if step.with_mean else 0.0, float), (n,))
        return np.diag(1.0 / scale), -mean / scale
    if isinstance(step, PCA):
        A = np.asarray(step.components_, float)
        c = -A @ np.asarray(step.mean_, float)
        if step.whiten:
            root = np.sqrt(np.asarray(step.explained_variance_, float))
            A, c = A / root[:, None], c / root
        return A, c
    if isinstance(step, MinMaxScaler):
        return np.diag(np.asarray(step.scale_, float)), np.asarray(step.min_, float)
    raise ConfigError(f"the reducer's steps must be StandardScaler, PCA and MinMaxScaler to fold into one affine map; "
                      f"got a {type(step).__name__} step; use QubitReducer as fitted by fit")

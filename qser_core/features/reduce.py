"""From backbone embeddings to qubit rotation angles.

``qser evaluate`` fits one :class:`QubitReducer` per fold, on that fold's training rows.

A quantum head with ``n_qubits`` wires encodes one feature per wire as a rotation
angle, so the 2560-dim embeddings are standardised, projected to ``n_qubits``
components, the components standardised, and ``±3σ`` mapped linearly onto ``[0, π]``
(rarer values clipped). Every step is a scikit-learn transformer fitted on training
rows only, and all of them are affine up to the final clipping. Every head (classical
or quantum) gets these angles.

Two projections (``reduce.method``):

- ``pca`` (default): the first principal components; unsupervised, what the labels
  never touch.
- ``pls``: partial least squares (``sklearn.cross_decomposition.PLSRegression``)
  between the embeddings and the one-hot emotion labels of the training rows: the
  ``k`` directions of largest covariance with the classes. It shows how much the
  unsupervised PCA bottleneck costs each head.

Measured on EmoDB (EfficientNet-Lite0 embeddings, 5 speaker-disjoint folds,
scikit-learn logistic regression on the angles; see docs/front_end.md):
UA 0.626 with PLS against 0.535 with PCA at 8 components, 0.527 against 0.461 at 4.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from qser_core.config import N_CLASSES, QUBIT_RANGE, REDUCE_METHODS
from qser_core.errors import ConfigError, DataError

__all__ = ["QubitReducer", "LabelPLS", "MIN_COMPONENTS", "MAX_COMPONENTS"]

MIN_COMPONENTS, MAX_COMPONENTS = QUBIT_RANGE  # components = qubits of the quantum head
#: Standardised components from -SIGMA_RANGE to +SIGMA_RANGE map linearly onto [0, π]; beyond, they are clipped.
#: Measured on EmoDB (128-band EfficientNet-Lite0 front end, PCA, 5 speaker-disjoint folds, the logreg
#: head with its penalty chosen on the validation speakers): UA 0.554 at 8 components and 0.481 at 4,
#: where the former min-max scaling to the training range gave 0.528 and 0.463 (a single outlying
#: training clip squeezed every other clip's angles; ±3σ keeps 99.7% of a Gaussian unclipped).
SIGMA_RANGE = 3.0


class QubitReducer(TransformerMixin, BaseEstimator):
    """StandardScaler → PCA or PLS (n_components) → StandardScaler → ±3σ onto [0, π], clipped.

    Parameters
    ----------
    n_components : int, default=8
        Components kept = qubits of the quantum head (2-12), at most
        ``min(n_samples, n_features)`` of the rows passed to :meth:`fit`.
    method : {"pca", "pls"}, default="pca"
        ``pca``: principal components (unsupervised); ``pls``: :class:`LabelPLS`, the
        directions of largest covariance with the training labels (``fit`` needs ``y``).

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted ``scale → pca|pls → standard → angles`` pipeline (the projection step is named
        after ``method``; ``angles`` is a ``MinMaxScaler`` set to map ``±SIGMA_RANGE`` onto ``[0, π]``).
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

    def __init__(self, n_components: int = 8, *, method: str = "pca") -> None:
        self.n_components = n_components
        self.method = method

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
                f"n_components={k} is more than the data allows: {self.method.upper()} keeps at most "
                f"min(n_samples, n_features) = min({n_samples}, {n_features}) = {limit} components; "
                "lower reduce.n_qubits or fit on more rows"
            )
        return int(k)

    def _projection(self, k: int, n_rows: int, n_features: int):
        if self.method == "pca":
            from sklearn.decomposition import PCA  # here, not at the top: a saved model's loader never fits one
            # Eigen-decomposition of the covariance: exact like the full SVD, ~3x faster on
            # CREMA-D-sized training sets (6,000 x 2,560); randomized SVD is faster still but its
            # fit_transform differs from fit + transform and its 12th component drifts by ~0.5%.
            # With fewer rows than half the dims the d x d covariance costs more than the SVD of X
            # (2,560 dims: 48 rows 24x, 500 rows 3.6x slower; 2,000 rows 1.3x faster), so use the SVD.
            return PCA(n_components=k, svd_solver="covariance_eigh" if 2 * n_rows >= n_features else "full")
        if self.method == "pls":
            return LabelPLS(n_components=k)
        raise ConfigError(f"method (reduce.method) must be one of {', '.join(REDUCE_METHODS)}; got {self.method!r}")

    def fit(self, X, y=None) -> "QubitReducer":
        """Fit scaler, projection and angle scaling on ``X`` (training rows only).

        Parameters
        ----------
        X : array-like [shape=(n_samples, n_features)]
            Embeddings of the training rows.
        y : array-like [shape=(n_samples,)] or None, default=None
            Integer labels 0..5 of those rows; required by ``method="pls"``, ignored by PCA.

        Returns
        -------
        self : QubitReducer

        Raises
        ------
        ConfigError
            ``n_components`` out of range or above what the rows allow; unknown ``method``;
            ``method="pls"`` without labels.
        """
        X = check_array(X, dtype=(np.float64, np.float32))
        k = self._check_n_components(*X.shape)
        projection = self._projection(k, *X.shape)
        if self.method == "pls" and y is None:
            raise ConfigError("method='pls' (reduce.method) is supervised and needs the training labels; "
                              "call fit(X, y) or use method='pca'")
        scale, standard = StandardScaler(), StandardScaler()
        scores = standard.fit_transform(projection.fit_transform(scale.fit_transform(X), y))
        angles = MinMaxScaler(feature_range=(0.0, math.pi), clip=True).fit(
            np.array([[-SIGMA_RANGE] * scores.shape[1], [SIGMA_RANGE] * scores.shape[1]]))
        self.pipeline_ = Pipeline([("scale", scale), (self.method, projection), ("standard", standard),
                                   ("angles", angles)])
        self.explained_variance_ratio_ = np.asarray(projection.explained_variance_ratio_)
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
        """Component scores of the rows of ``X`` (standardised, projected, standardised again; before the angles).

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
    from sklearn.decomposition import PCA

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
    if isinstance(step, AffineAngles):
        return np.asarray(step.W, float), np.asarray(step.b, float)
    if isinstance(step, LabelPLS):
        # x scores = (x - x_mean) @ x_rotations_ (scale=False): read the map off the origin and the unit vectors
        c = step.transform(np.zeros((1, step.n_features_in_)))[0].astype(float)
        A = (step.transform(np.eye(step.n_features_in_)) - c).T.astype(float)
        return A, c
    raise ConfigError(f"the reducer's steps must be StandardScaler, PCA, LabelPLS and MinMaxScaler to fold into one "
                      "affine map; "
                      f"got a {type(step).__name__} step; use QubitReducer as fitted by fit")


class AffineAngles(TransformerMixin, BaseEstimator):
    """A fitted reducer folded into its affine map: ``angles = clip(X @ W.T + b, 0, π)``.

    What a saved model stores of its reducer (:meth:`QubitReducer.affine` of the fitted one): the same angles
    as the fitted scaler → projection → scaler → angle steps, from plain arrays (no pickle).

    Parameters
    ----------
    W : np.ndarray [shape=(n_components, n_features)]
    b : np.ndarray [shape=(n_components,)]
    """

    def __init__(self, W=None, b=None) -> None:
        self.W = W
        self.b = b

    def fit(self, X=None, y=None) -> "AffineAngles":
        """Nothing to learn (the map is given); returns ``self``."""
        self.n_features_in_ = np.asarray(self.W).shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Angles in ``[0, π]`` of the rows of ``X``."""
        X = check_array(X, dtype=(np.float64, np.float32))
        W = np.asarray(self.W)
        if X.shape[1] != W.shape[1]:
            raise DataError(f"X must have {W.shape[1]} columns (the saved reducer's input); got {X.shape[1]}")
        angles = X.astype(np.float64) @ W.T + np.asarray(self.b)
        return np.clip(angles, 0.0, math.pi).astype(X.dtype)


class LabelPLS(TransformerMixin, BaseEstimator):
    """Partial least squares between features and one-hot class labels, as a transformer.

    ``PLSRegression`` needs a target matrix; this one builds it from integer labels
    (one column per emotion) and returns the X scores, the ``n_components`` directions
    of largest covariance with the classes.

    Parameters
    ----------
    n_components : int, default=8
        Components kept.

    Attributes
    ----------
    pls_ : sklearn.cross_decomposition.PLSRegression
        The fitted model (``scale=False``: the reducer standardises first).
    explained_variance_ratio_ : np.ndarray [shape=(n_components,)]
        Share of the training rows' (centred) variance each component's rank-one part
        ``t_j p_j^T`` explains (the scores are orthogonal, so the shares add up).
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((60, 10)), np.arange(60) % 6
    >>> LabelPLS(n_components=3).fit(X, y).transform(X).shape
    (60, 3)
    """

    def __init__(self, n_components: int = 8) -> None:
        self.n_components = n_components

    def fit(self, X, y) -> "LabelPLS":
        """Fit on training rows ``X`` and their labels ``y`` (integers 0..5)."""
        from sklearn.cross_decomposition import PLSRegression  # imported when fitted: loading a model never is

        X = check_array(X, dtype=(np.float64, np.float32))
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise ConfigError(f"LabelPLS needs one integer label per row ({len(X)}); got shape {y.shape}")
        Y = np.eye(N_CLASSES)[y.astype(np.int64)]
        self.pls_ = PLSRegression(n_components=int(self.n_components), scale=False).fit(X, Y)
        centred = X - X.mean(axis=0)
        scores, loadings = self.pls_.x_scores_, self.pls_.x_loadings_
        parts = np.sum(scores**2, axis=0) * np.sum(loadings**2, axis=0)
        self.explained_variance_ratio_ = parts / max(float(np.sum(centred.astype(np.float64) ** 2)), 1e-300)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """X scores ``[shape=(n_samples, n_components)]`` of the rows of ``X``."""
        check_is_fitted(self, "pls_")
        return self.pls_.transform(check_array(X, dtype=(np.float64, np.float32)))

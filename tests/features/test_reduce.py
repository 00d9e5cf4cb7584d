"""Tests of qser_core.features.reduce.QubitReducer: the sklearn contract and training-rows-only fitting."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from qser_core.errors import ConfigError
from qser_core.features.reduce import QubitReducer


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((120, 5))
    return latent @ rng.standard_normal((5, 40)) + 0.1 * rng.standard_normal((120, 40))


class TestFit:
    def test_fit_transform_equals_fit_then_transform(self, X):
        a = QubitReducer(n_components=6).fit_transform(X)
        b = QubitReducer(n_components=6).fit(X).transform(X)
        assert np.allclose(a, b)

    def test_output_is_angles_in_zero_pi(self, X):
        angles = QubitReducer(n_components=8).fit_transform(X)
        assert angles.shape == (120, 8)
        assert angles.min() >= 0.0 and angles.max() <= np.pi
        assert np.allclose(angles.min(axis=0), 0.0) and np.allclose(angles.max(axis=0), np.pi)

    def test_fitted_attributes(self, X):
        reducer = QubitReducer(n_components=4).fit(X)
        assert reducer.n_features_in_ == 40
        assert list(reducer.pipeline_.named_steps) == ["scale", "pca", "angles"]
        ratio = reducer.explained_variance_ratio_
        assert ratio.shape == (4,) and np.all(np.diff(ratio) <= 0) and ratio.sum() < 1.0
        assert ratio.sum() > 0.8  # five latent factors: four components explain most of the variance

    def test_is_scaler_then_pca(self, X):
        reducer = QubitReducer(n_components=3).fit(X)
        pcs = PCA(n_components=3, svd_solver="full").fit_transform(StandardScaler().fit_transform(X))
        projected = reducer.pipeline_[:-1].transform(X)
        assert np.allclose(np.abs(projected), np.abs(pcs), atol=1e-8)  # equal up to component sign

    def test_fitted_on_training_rows_only(self, X):
        train, other = X[:80], X[80:] * 3.0  # other rows outside the training range
        reducer = QubitReducer(n_components=4).fit(train)
        assert np.allclose(reducer.transform(train), QubitReducer(n_components=4).fit_transform(train))
        out = reducer.transform(other)
        assert out.min() >= 0.0 and out.max() <= np.pi
        assert np.isclose(out, 0.0).any() or np.isclose(out, np.pi).any()  # clipped, not rescaled
        assert not np.allclose(QubitReducer(n_components=4).fit(X).transform(train), reducer.transform(train))

    def test_float32_input(self, X):
        angles = QubitReducer(n_components=4).fit_transform(X.astype(np.float32))
        assert angles.dtype == np.float32 and np.isfinite(angles).all()


class TestEstimatorContract:
    def test_init_only_stores(self):
        reducer = QubitReducer(n_components=99)  # invalid, but the constructor must not check
        assert reducer.get_params() == {"n_components": 99}
        assert not hasattr(reducer, "pipeline_")

    def test_clone_and_set_params(self, X):
        reducer = QubitReducer(n_components=5).fit(X)
        copy = clone(reducer)
        assert copy.get_params() == {"n_components": 5} and not hasattr(copy, "pipeline_")
        assert copy.set_params(n_components=3).fit(X).transform(X).shape == (120, 3)

    def test_not_fitted(self, X):
        with pytest.raises(NotFittedError, match="QubitReducer instance is not fitted yet"):
            QubitReducer().transform(X)

    def test_feature_count_mismatch(self, X):
        reducer = QubitReducer(n_components=4).fit(X)
        with pytest.raises(ValueError, match=r"X has 39 features, but QubitReducer was fitted with 40"):
            reducer.transform(X[:, :39])

    def test_repr(self):
        assert repr(QubitReducer(n_components=4)) == "QubitReducer(n_components=4)"


class TestInputs:
    @pytest.mark.parametrize("bad", [1, 13, 0, 2.5, True])
    def test_n_components_out_of_range(self, X, bad):
        with pytest.raises(ConfigError, match=rf"must be an integer between 2 and 12; got {bad!r}"):
            QubitReducer(n_components=bad).fit(X)

    def test_more_components_than_rows(self, X):
        with pytest.raises(ConfigError, match=r"n_components=8 is more than the data allows: .*min\(5, 40\) = 5"):
            QubitReducer(n_components=8).fit(X[:5])

    def test_more_components_than_features(self, X):
        with pytest.raises(ConfigError, match=r"min\(120, 3\) = 3 components; lower reduce.n_qubits"):
            QubitReducer(n_components=4).fit(X[:, :3])

    def test_nan_input(self, X):
        X = X.copy()
        X[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            QubitReducer(n_components=4).fit(X)

    def test_one_dimensional_input(self):
        with pytest.raises(ValueError, match="Expected 2D array"):
            QubitReducer(n_components=2).fit(np.zeros(10))

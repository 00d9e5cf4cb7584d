"""Tests of qser_core.features.reduce.QubitReducer: the sklearn contract and training-rows-only fitting."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from qser_core.errors import ConfigError
from qser_core.features.reduce import LabelPLS, QubitReducer


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
        assert reducer.get_params() == {"n_components": 99, "method": "pca"}
        assert QubitReducer(method="nope").get_params()["method"] == "nope"
        assert not hasattr(reducer, "pipeline_")

    def test_clone_and_set_params(self, X):
        reducer = QubitReducer(n_components=5).fit(X)
        copy = clone(reducer)
        assert copy.get_params() == {"n_components": 5, "method": "pca"} and not hasattr(copy, "pipeline_")
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
        assert repr(QubitReducer(n_components=4, method="pls")) == "QubitReducer(method='pls', n_components=4)"


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


def _hidden_class_signal(n=180):
    """Six classes on a circle in a quiet plane, hidden (after a fixed rotation) under six louder noise directions."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 6
    loud = rng.standard_normal((n, 6)) * 2.0
    angle = 2 * np.pi * y / 6
    quiet = np.c_[np.cos(angle), np.sin(angle)] + 0.2 * rng.standard_normal((n, 2))
    rotation = np.linalg.qr(np.random.default_rng(99).standard_normal((8, 8)))[0]
    return np.hstack([loud, quiet]) @ rotation, y


class TestPLS:
    def test_finds_the_class_direction_pca_misses(self):
        X, y = _hidden_class_signal(n=600)
        X, y, X_test, y_test = X[:300], y[:300], X[300:], y[300:]

        def accuracy(method):
            from sklearn.linear_model import LogisticRegression
            reducer = QubitReducer(n_components=2, method=method).fit(X, y)
            clf = LogisticRegression().fit(reducer.transform(X), y)
            return clf.score(reducer.transform(X_test), y_test)

        assert accuracy("pls") > 0.5 > 0.25 > accuracy("pca")  # chance is 1/6

    def test_pipeline_steps_and_angles(self):
        X, y = _hidden_class_signal()
        reducer = QubitReducer(n_components=3, method="pls").fit(X, y)
        assert list(reducer.pipeline_.named_steps) == ["scale", "pls", "angles"]
        angles = reducer.transform(X)
        assert angles.shape == (180, 3) and angles.min() >= 0.0 and angles.max() <= np.pi
        ratio = reducer.explained_variance_ratio_
        assert ratio.shape == (3,) and np.all(ratio > 0) and ratio.sum() <= 1.0 + 1e-9

    def test_fitted_on_training_rows_and_labels_only(self):
        X, y = _hidden_class_signal()
        train = np.arange(120)
        reducer = QubitReducer(n_components=3, method="pls").fit(X[train], y[train])
        # the rows outside training (and their labels) changed: the fitted map must not move
        X_other, y_other = X.copy(), y.copy()
        X_other[120:] *= -7.0
        y_other[120:] = (y_other[120:] + 3) % 6
        again = QubitReducer(n_components=3, method="pls").fit(X_other[train], y_other[train])
        np.testing.assert_array_equal(reducer.transform(X), again.transform(X))
        # and the labels do matter (it is supervised): shuffled training labels give another map
        shuffled = QubitReducer(n_components=3, method="pls").fit(X[train], np.roll(y[train], 1))
        assert not np.allclose(reducer.transform(X), shuffled.transform(X))

    def test_fit_transform_equals_fit_then_transform(self):
        X, y = _hidden_class_signal()
        np.testing.assert_allclose(QubitReducer(n_components=4, method="pls").fit_transform(X, y),
                                   QubitReducer(n_components=4, method="pls").fit(X, y).transform(X))

    def test_needs_labels(self):
        X, _ = _hidden_class_signal()
        with pytest.raises(ConfigError, match=r"method='pls' \(reduce.method\) is supervised and needs the training labels"):
            QubitReducer(n_components=3, method="pls").fit(X)

    def test_unknown_method(self):
        X, y = _hidden_class_signal()
        with pytest.raises(ConfigError, match=r"method \(reduce.method\) must be one of pca, pls; got 'ica'"):
            QubitReducer(n_components=3, method="ica").fit(X, y)

    def test_label_pls_rejects_wrong_label_count(self):
        X, y = _hidden_class_signal()
        with pytest.raises(ConfigError, match=r"LabelPLS needs one integer label per row \(180\); got shape \(179,\)"):
            LabelPLS(n_components=2).fit(X, y[:-1])

"""Tests of qser_core.experiments.metrics with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, f1_score

from qser_core.errors import DataError
from qser_core.experiments.metrics import (IntervalWarning, classification_metrics, mcnemar, mean_ci95, metric_interval,
                                           paired_bootstrap)


class TestClassificationMetrics:
    def test_known_values(self):
        y_true = [0, 0, 0, 0, 1, 1, 2, 2]
        y_pred = [0, 0, 0, 1, 1, 1, 2, 0]
        m = classification_metrics(y_true, y_pred)
        assert m["wa"] == pytest.approx(6 / 8)
        assert m["ua"] == pytest.approx((3 / 4 + 1 + 1 / 2) / 3)
        # per-class F1: 0: p=3/4 r=3/4 → 0.75; 1: p=2/3 r=1 → 0.8; 2: p=1 r=1/2 → 2/3
        assert m["macro_f1"] == pytest.approx((0.75 + 0.8 + 2 / 3) / 3)
        conf = np.array(m["confusion"])
        assert conf.shape == (6, 6) and conf.sum() == 8
        assert conf[0, 0] == 3 and conf[0, 1] == 1 and conf[2, 0] == 1

    def test_perfect(self):
        m = classification_metrics([5, 4, 3], [5, 4, 3])
        assert m["wa"] == m["ua"] == m["macro_f1"] == 1.0

    def test_bad_labels(self):
        with pytest.raises(DataError, match="y_pred must hold labels 0..5; got values from 0 to 7"):
            classification_metrics([0, 1], [0, 7])
        with pytest.raises(DataError, match=r"equal lengths; got \[2, 3\]"):
            classification_metrics([0, 1], [0, 1, 2])


class TestMeanCI:
    def test_single_value(self):
        with pytest.warns(IntervalWarning, match="only 1 value behind this 95% interval"):
            assert mean_ci95([0.4]) == (0.4, 0.4, 0.4)

    def test_student_t(self):
        values = [0.50, 0.55, 0.60, 0.52, 0.58]
        mean, low, high = mean_ci95(values)
        half = stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / np.sqrt(5)
        assert mean == pytest.approx(0.55)
        assert (low, high) == pytest.approx((0.55 - half, 0.55 + half))
        assert mean_ci95([1.0, 2.0, 3.0], bounds=None)[1] == pytest.approx(2 - 4.302652729911275 / np.sqrt(3))

    def test_empty(self):
        with pytest.raises(DataError, match="at least one value"):
            mean_ci95([])


class TestIntervalRange:
    def test_two_folds_stay_inside_zero_one_and_are_flagged(self):
        # The case: macro-F1 over 2 folds gave 0.300 [-0.054, 0.653].
        values = [0.1, 0.5]
        raw_half = stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
        assert 0.3 - raw_half < 0  # the plain t-interval leaves [0, 1]
        r = metric_interval(values)
        assert r["low"] == 0.0 and r["high"] == 1.0 and r["clipped"] and r["n"] == 2
        assert "only 2 values" in r["note"] and "clipped" in r["note"]
        with pytest.warns(IntervalWarning, match="left \\[0, 1\\] and was clipped"):
            assert mean_ci95(values) == pytest.approx((0.3, 0.0, 1.0))

    def test_enough_values_inside_the_range_are_not_flagged(self):
        r = metric_interval([0.50, 0.55, 0.60, 0.52, 0.58])
        assert not r["clipped"] and r["note"] == "" and 0 < r["low"] < r["high"] < 1

    def test_values_outside_the_range(self):
        with pytest.raises(DataError, match=r"values must lie in \[0.0, 1.0\]; got 0.5 to 1.5"):
            metric_interval([0.5, 1.5])


class TestMcNemar:
    def test_exact_small(self):
        y = np.zeros(10, dtype=int)
        a = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])  # right on 7
        b = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])  # right on 5
        r = mcnemar(y, a, b)
        # b = A right & B wrong = positions 0..4 → 5; c = A wrong & B right = 7..9 → 3
        assert (r["b"], r["c"], r["method"]) == (5, 3, "exact")
        assert r["p_value"] == pytest.approx(2 * stats.binom.cdf(3, 8, 0.5))

    def test_chi2_large(self):
        y = np.zeros(100, dtype=int)
        a = np.where(np.arange(100) < 40, 0, 1)  # right on 0..39
        b = np.where((np.arange(100) >= 30) & (np.arange(100) < 50), 0, 1)  # right on 30..49
        r = mcnemar(y, a, b)
        assert (r["b"], r["c"], r["method"]) == (30, 10, "chi2")
        assert r["statistic"] == pytest.approx((20 - 1) ** 2 / 40)
        assert r["p_value"] == pytest.approx(stats.chi2.sf(361 / 40, 1))

    def test_identical(self):
        r = mcnemar([0, 1], [0, 0], [0, 0])
        assert r["p_value"] == 1.0 and r["b"] == r["c"] == 0


class TestBootstrap:
    def test_identical_predictions(self):
        y = np.arange(60) % 6
        r = paired_bootstrap(y, y, y, n_boot=200)
        assert r["diff"] == 0 and r["ci95"] == (0.0, 0.0) and r["p_value"] == 1.0

    def test_clear_difference(self):
        rng = np.random.default_rng(0)
        y = np.arange(300) % 6
        a = y.copy()
        b = np.where(rng.random(300) < 0.5, y, (y + 1) % 6)
        r = paired_bootstrap(y, a, b, n_boot=500, seed=1)
        assert r["diff"] == pytest.approx(1 - balanced_accuracy_score(y, b))
        assert r["ci95"][0] > 0.3 and r["p_value"] < 0.01

    @pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
    @pytest.mark.parametrize("metric", ["ua", "wa", "macro_f1"])
    def test_vectorised_scores_match_sklearn(self, metric):
        rng = np.random.default_rng(2)
        y = rng.integers(0, 5, 80)  # one class absent
        a, b = rng.integers(0, 6, 80), rng.integers(0, 6, 80)
        ref = {
            "ua": balanced_accuracy_score,
            "wa": lambda t, p: np.mean(t == p),
            "macro_f1": lambda t, p: f1_score(t, p, labels=np.unique(t), average="macro", zero_division=0),
        }[metric]
        r = paired_bootstrap(y, a, b, metric=metric, n_boot=50)
        assert r["diff"] == pytest.approx(ref(y, a) - ref(y, b))

    def test_same_seed_same_answer(self):
        rng = np.random.default_rng(3)
        y, a, b = (rng.integers(0, 6, 50) for _ in range(3))
        assert paired_bootstrap(y, a, b, seed=4) == paired_bootstrap(y, a, b, seed=4)

    def test_bad_metric(self):
        with pytest.raises(DataError, match="metric must be one of ua, wa, macro_f1; got 'auc'"):
            paired_bootstrap([0], [0], [0], metric="auc")

"""Tests of qser_core.hardware.compare: per-target scores with intervals, and agreement between targets."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.errors import DataError
from qser_core.hardware.compare import agreement, bootstrap_ci95, target_scores

W, B = np.eye(6, 3), np.zeros(6)  # class q wins when ⟨Z_q⟩ is the largest (q < 3)


class TestScores:
    def test_scores_predictions_and_jobs(self):
        y = np.array([0, 1, 2, 0, 1, 2])
        z = np.eye(3)[y] * 0.5
        scores = target_scores(y, z, W, B, jobs=1, n_boot=50)
        assert scores["y_pred"] == y.tolist() and scores["ua"] == 1.0 and scores["jobs"] == 1
        assert scores["ua_ci95"] == [1.0, 1.0]

    def test_interval_brackets_the_score(self):
        rng = np.random.default_rng(0)
        y, p = rng.integers(0, 6, 200), rng.integers(0, 6, 200)
        low, high = bootstrap_ci95(y, p, n_boot=200)["wa"]
        assert low < np.mean(y == p) < high

    def test_rows_must_match_clips(self):
        with pytest.raises(DataError, match="one row per clip"):
            target_scores([0, 1], np.zeros((3, 3)), W, B, jobs=1)


class TestAgreement:
    def test_identical_targets_agree(self):
        y = np.array([0, 1, 2, 2])
        z = np.eye(3)[y] * 0.4
        s = target_scores(y, z, W, B, jobs=0, n_boot=20)
        out = agreement(y, s, s, z, z)
        assert out["agreement"] == 1.0 and out["zmad"] == 0.0 and out["zcorr"] == pytest.approx(1.0)
        assert out["mcnemar"]["p_value"] == 1.0

    def test_shrunk_values_differ_but_correlate(self):
        y = np.array([0, 1, 2, 2])
        z = np.eye(3)[y] * 0.4
        a, b = target_scores(y, z, W, B, jobs=0, n_boot=20), target_scores(y, z * 0.5, W, B, jobs=1, n_boot=20)
        out = agreement(y, a, b, z, z * 0.5)
        assert out["zmad"] == pytest.approx(np.mean(np.abs(z * 0.5))) and out["zcorr"] == pytest.approx(1.0)

"""Tests of qser_core.hardware.recalibrate: refitting the final linear readout on shrunken ⟨Z⟩."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.errors import DataError
from qser_core.hardware.recalibrate import refit_readout


class TestRefit:
    def test_recovers_accuracy_lost_to_shrinkage_and_offset(self):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 3, 120)
        ideal = np.eye(3)[y] * 0.6 + rng.normal(0, 0.05, (120, 3))
        w0, b0 = np.vstack([np.eye(3) * 10, np.zeros((3, 3))]), np.r_[0.0, -2.0, -4.0, np.full(3, -50.0)]
        noisy = ideal * 0.3 + 0.1  # noise shrinks ⟨Z⟩ and readout error shifts it
        assert np.mean((ideal @ w0.T + b0).argmax(1) == y) > 0.95
        before = np.mean((noisy @ w0.T + b0).argmax(1) == y)
        w, b = refit_readout(noisy[:60], y[:60], init=(w0, b0))
        after = np.mean((noisy[60:] @ w.T + b).argmax(1) == y[60:])
        assert before < 0.5 and after > 0.9

    def test_keeps_shapes(self):
        w, b = refit_readout(np.ones((4, 2)) * [[1], [-1], [1], [-1]], [0, 1, 0, 1], init=(np.zeros((6, 2)), np.zeros(6)))
        assert w.shape == (6, 2) and b.shape == (6,)

    def test_needs_two_emotions(self):
        with pytest.raises(DataError, match="at least two emotions; got 1"):
            refit_readout(np.zeros((3, 2)), [1, 1, 1], init=(np.zeros((6, 2)), np.zeros(6)))

    def test_rows_and_labels_must_match(self):
        with pytest.raises(DataError, match="one ⟨Z⟩ row per label"):
            refit_readout(np.zeros((3, 2)), [0, 1], init=(np.zeros((6, 2)), np.zeros(6)))

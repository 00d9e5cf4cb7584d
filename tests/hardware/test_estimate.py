"""Tests of qser_core.hardware.estimate: never below IBM's quick formula, limits from what is left."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from qser_core.hardware.backends import fake_backend
from qser_core.hardware.estimate import budget_check, estimate_qpu_time, execution_limit


@pytest.fixture(scope="module")
def fez():
    return fake_backend("ibm_fez")


def _isa(duration: float, layout=(0, 1, 2)):
    return SimpleNamespace(stats={"duration_s": duration, "layout": list(layout)})


class TestEstimate:
    def test_quick_formula_is_a_floor(self, fez):
        e = estimate_qpu_time(_isa(0.0), fez, n_rows=1000, shots=1024)
        assert e["ibm_quick_formula_s"] == pytest.approx(2 + 0.35e-3 * 1_024_000)  # 360.4 s
        assert e["quantum_seconds"] >= e["ibm_quick_formula_s"]

    def test_reset_and_measurement_are_counted(self, fez):
        e = estimate_qpu_time(_isa(2e-3), fez, n_rows=10, shots=100)
        assert e["measure_s"] > 0 and e["rep_delay_s"] == pytest.approx(250e-6)
        assert e["detailed_s"] == pytest.approx(2 + 1000 * (2e-3 + e["measure_s"] + e["rep_delay_s"]))
        assert e["quantum_seconds"] == e["detailed_s"]  # a long circuit: above the quick formula

    def test_calibration_circuits_count_as_executions(self, fez):
        plain = estimate_qpu_time(_isa(0.0), fez, n_rows=10, shots=100)
        with_cal = estimate_qpu_time(_isa(0.0), fez, n_rows=10, shots=100, calibration_circuits=20)
        assert with_cal["ibm_quick_formula_s"] - plain["ibm_quick_formula_s"] == pytest.approx(20 * 100 * 0.35e-3)


class TestBudget:
    def test_limit_is_one_and_a_half_estimates_capped_by_what_is_left(self):
        assert execution_limit({"quantum_seconds": 100.0}, None) == 150
        assert execution_limit({"quantum_seconds": 100.0}, 120.0) == 120

    def test_over_what_is_left(self):
        check = budget_check({"quantum_seconds": 200.0}, {"known": True, "remaining_s": 150.0, "limit_s": 600.0,
                                                          "source": "usage"})
        assert not check["fits"] and check["max_execution_time_s"] == 150 and check["remaining_s"] == 150.0

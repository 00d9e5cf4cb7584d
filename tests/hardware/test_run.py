"""Tests of qser_core.hardware.run and .records: dispatch, job records, fetch, curves — real primitives on fake backends."""

from __future__ import annotations

import pytest

from qser_core.errors import BackendError, DataError
from qser_core.hardware import records
from qser_core.hardware.execute import job_status, local_target, submit, wait
from qser_core.hardware.run import dispatch, fetch, job_list, noise_curve, plan


@pytest.fixture(scope="module")
def planned(hw_model, hw_features):
    return plan(hw_model, backend="ibm_brisbane", fake=True, shots=128, n_clips=8, recalibrate=12,
                features=hw_features, model_path="model")


class TestPlan:
    def test_reports_circuit_and_estimate_before_dispatch(self, planned):
        run, _ = planned
        assert run.isa.stats["two_qubit_gates"] > 0 and len(run.isa.layout) == 3
        assert run.estimate["executions"] == (8 + 12) * 128 and run.estimate["fits_open_plan"]
        assert len(run.test) == 8 and len(run.train) == 12 and run.angles.shape == (20, 3)

    @pytest.mark.parametrize("primitive, mitigation, extra", [
        ("estimator", {"resilience_level": 2}, "zne"), ("sampler", {"readout": "mthree"}, "calibration")])
    def test_estimate_counts_zne_and_readout_calibration(self, planned, hw_model, hw_features, primitive, mitigation,
                                                         extra):
        from qser_core.hardware.execute import Mitigation

        base = planned[0].estimate
        run, _ = plan(hw_model, backend="ibm_brisbane", fake=True, shots=128, n_clips=8, recalibrate=12,
                      features=hw_features, primitive=primitive, mitigation=Mitigation(**mitigation))
        shots_s = base["quantum_seconds"] - base["overhead_s"]
        if extra == "zne":  # every circuit run at three noise factors
            assert run.estimate["quantum_seconds"] - run.estimate["overhead_s"] == pytest.approx(3 * shots_s)
        else:  # calibration circuits in the same job: their shots, no second job overhead
            assert run.estimate["calibration_s"] > run.estimate["overhead_s"]
            assert run.estimate["quantum_seconds"] == pytest.approx(base["quantum_seconds"]
                                                                    + run.estimate["calibration_s"])

    def test_subset_is_stratified(self, planned):
        run, _ = planned
        assert len(set(run.test.y_true.tolist())) == 6  # 8 clips cover all six emotions


class TestDispatch:
    def test_one_job_recorded_and_scored(self, planned, hw_model, hw_store):
        run, device = planned
        result = dispatch(hw_model, run, device)
        assert result["jobs"] == 1 and result["ideal"]["jobs"] == 0 and result["noisy"]["jobs"] == 1
        for target in ("ideal", "noisy", "recalibrated"):
            assert {"ua", "wa", "macro_f1", "ua_ci95", "jobs"} <= set(result[target])
        run_id, record, stored = records.find_job(result["job_ids"][0])
        assert run_id == result["run_id"] and record["shots"] == 128 and record["clips"] == run.test.clips
        assert records.load_isa(record["isa_qpy"]).num_parameters == 3
        assert stored["noisy"]["ua"] == result["noisy"]["ua"]
        again = fetch(result["job_ids"][0])
        assert again["fetched"] is False and again["noisy"] == result["noisy"]  # idempotent
        assert [j["status"] for j in job_list() if j["job_id"] == result["job_ids"][0]] == ["DONE"]

    def test_unknown_job(self, hw_store):
        with pytest.raises(DataError, match="no recorded job with id 'abcd-1234'"):
            fetch("abcd-1234")


class TestFailures:
    def test_failed_job_reports_its_reason(self, planned):
        run, device = planned
        target = local_target(run.isa, device)
        target.mode.set_options(method="stabilizer")  # Aer refuses the rotations: a genuinely failing job
        execution = submit(run.isa, run.angles[:2], target=target, shots=16)
        with pytest.raises(BackendError, match=r"ended ERROR: .*invalid parameters\s+for \"stabilizer\""):
            wait(execution)
        status, reason = job_status(execution.job)
        assert status == "ERROR" and "stabilizer" in reason

    def test_status_lists_the_reason(self, planned, hw_model, hw_store):
        run, device = planned
        result = dispatch(hw_model, run, device)
        records.set_job_status(result["run_id"], result["job_ids"][0], "CANCELLED", "Job cancelled by the user")
        row = [j for j in job_list() if j["job_id"] == result["job_ids"][0]][0]
        assert row["status"] == "CANCELLED" and row["reason"] == "Job cancelled by the user"


class TestCurve:
    def test_one_job_per_point(self, planned, hw_model, hw_store, monkeypatch):
        from qiskit_ibm_runtime import EstimatorV2

        calls, real = [], EstimatorV2.run
        monkeypatch.setattr(EstimatorV2, "run", lambda self, pubs, **kw: calls.append(len(pubs)) or real(self, pubs, **kw))
        run, device = planned
        curve = noise_curve(hw_model, run, device, noise_scales=[0.0, 2.0])
        assert calls == [1, 1] and curve["jobs"] == 2 and [p["jobs"] for p in curve["points"]] == [1, 1]
        assert [p["noise_scale"] for p in curve["points"]] == [0.0, 2.0]
        assert all("ua" in p and "recalibrated_ua" in p for p in curve["points"])

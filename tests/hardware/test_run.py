"""Tests of qser_core.hardware.run and .records: dispatch, job records, fetch, curves — real primitives on fake backends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qser_core.config import HardwareConfig
from qser_core.errors import BackendError, DataError
from qser_core.hardware import records
from qser_core.hardware.execute import job_status, local_target, submit, wait
from qser_core.hardware.run import check_budget, dispatch, fetch, job_list, noise_curve, plan
from tests.hardware.standins import SECRET, StandInService, record_hardware_job as _hardware_job


HW = HardwareConfig(backend="ibm_fez", shots=128, clips=8, recalibrate=12)


@pytest.fixture(scope="module")
def planned(hw_model, hw_features):
    return plan(hw_model, HW, fake=True, features=hw_features, model_path="model")


class TestPlan:
    def test_reports_circuit_and_estimate_before_dispatch(self, planned):
        run, _ = planned
        assert run.isa.stats["two_qubit_gates"] > 0 and len(run.isa.layout) == 3
        e = run.estimate
        assert e["executions"] == (8 + 12) * 128 and e["fits"] and e["remaining_s"] == 600.0  # offline: Open Plan
        assert e["quantum_seconds"] >= e["ibm_quick_formula_s"] == pytest.approx(2 + 0.35e-3 * e["executions"])
        assert e["max_execution_time_s"] == int(np.ceil(1.5 * e["quantum_seconds"]))
        assert len(run.test) == 8 and len(run.train) == 12 and run.angles.shape == (20, 3)

    @pytest.mark.parametrize("knobs, extra", [
        ({"resilience_level": 2}, "zne"), ({"primitive": "sampler", "readout": "mthree"}, "calibration")])
    def test_estimate_counts_zne_and_readout_calibration(self, planned, hw_model, hw_features, knobs, extra):
        base = planned[0].estimate
        run, _ = plan(hw_model, dataclasses.replace(HW, **knobs), fake=True, features=hw_features)
        assert run.mitigation.resilience_level == knobs.get("resilience_level", 1)
        assert run.primitive == knobs.get("primitive", "estimator")
        quick = base["ibm_quick_formula_s"] - base["overhead_s"]
        if extra == "zne":  # every circuit run at three noise factors
            assert run.estimate["ibm_quick_formula_s"] - run.estimate["overhead_s"] == pytest.approx(3 * quick)
        else:  # calibration circuits in the same job, at its shots: no second job overhead
            from qser_core.hardware.readout import calibration_circuits, calibration_plan

            circuits = calibration_circuits(calibration_plan(3, shots=128))
            assert run.estimate["calibration_executions"] == circuits * 128
            assert run.estimate["ibm_quick_formula_s"] == pytest.approx(base["ibm_quick_formula_s"]
                                                                        + 0.35e-3 * circuits * 128)

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

    def test_job_records_its_hardware_config(self, planned, hw_model, hw_store):
        run, device = planned
        result = dispatch(hw_model, run, device)
        expected = {**HW.key_dict(), **dataclasses.asdict(HW), "layout": []}
        _, record, _ = records.find_job(result["job_ids"][0])
        assert record["hardware_config"] == expected == result["hardware_config"]
        assert fetch(result["job_ids"][0])["hardware_config"] == expected
        row = [j for j in job_list() if j["job_id"] == result["job_ids"][0]][0]
        assert row["hardware_config"] == expected  # `qser hardware status` shows it
        assert HardwareConfig(**{**row["hardware_config"], "layout": ()}) == HW  # and it rebuilds the config

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

    def test_a_stopped_curve_keeps_its_recorded_points(self, planned, hw_model, hw_store):
        from qser_core.errors import TrainingCancelled
        from qser_core.progress import CancelToken, RunContext

        token, seen = CancelToken(), []

        def progress(done, total, message):  # stop once the first point is done
            seen.append(done)
            if done == 1:
                token.cancel()

        run, device = planned
        with pytest.raises(TrainingCancelled, match="stopped after 1 of 3 points"):
            noise_curve(hw_model, run, device, noise_scales=[0.0, 1.0, 2.0],
                        context=RunContext(progress=progress, cancel=token))
        assert seen == [0, 1]
        recorded = [j for j in job_list() if j.get("noise_scale") == 0.0]
        assert recorded, "the finished point's job stays recorded"


class TestSameCounts:
    def test_circuit_page_report_and_hardware_plan_agree(self, planned, hw_model):
        # the Circuit page (placeholder weights) and the Hardware page (trained weights) use one export + seed search
        from qser_core.hardware.circuit import head_weights, transpile_report

        run, _ = planned
        spec = hw_model.head.spec_
        report = transpile_report(spec, backend="ibm_fez")
        trained = transpile_report(spec, backend="ibm_fez", weights=head_weights(hw_model.head)[0])
        assert report["transpiled"]["two_qubit_gates"] == run.isa.stats["two_qubit_gates"]
        assert trained["transpiled"]["two_qubit_gates"] == run.isa.stats["two_qubit_gates"]
        assert report["seed_search"] == "fewest of 8 transpiler seeds (kept: seed %d)" % run.isa.stats["seed"]


class TestBudgetGate:
    def test_hardware_job_over_what_is_left_needs_confirmation(self, planned):
        run, _ = planned
        over = dataclasses.replace(run, local=False, estimate={**run.estimate, "fits": False, "remaining_s": 5.0,
                                                                "source": "the account's usage"})
        with pytest.raises(BackendError, match=r"more than the 5 s left \(the account's usage\); .*--yes"):
            check_budget(over)
        check_budget(over, confirmed=True)
        check_budget(run)  # offline runs send nothing


class TestRetrieval:
    def test_fetch_reconnects_with_the_recorded_instance(self, hw_store, monkeypatch):
        from qser_core.hardware import run as run_module

        record = _hardware_job("job-instance-1")
        seen = []
        monkeypatch.setattr(run_module, "connect", lambda instance=None: seen.append(instance) or StandInService(fail=True))
        with pytest.raises(BackendError):
            fetch("job-instance-1")
        with pytest.raises(BackendError):
            fetch("job-instance-1", instance="crn:v1:other")
        assert seen == [record["instance"], "crn:v1:other"]
        row = [j for j in job_list() if j["job_id"] == "job-instance-1"][0]
        assert row["instance"] == record["instance"] and row["submitted"] == "2026-12-06 01:00:00 UTC"
        assert row["shots"] == 128 and row["model"].startswith("3q1l strong")

    def test_service_errors_never_reach_message_or_store_with_the_key(self, hw_store, caplog):
        _hardware_job("job-secret-1")
        service = StandInService(fail=True)
        for call in (lambda: fetch("job-secret-1", service=service),
                     lambda: job_list(refresh=True, service=service)):
            with pytest.raises(BackendError) as info:
                call()
            assert SECRET not in str(info.value) and "[key hidden]" in str(info.value)
        assert SECRET not in caplog.text
        assert SECRET.encode() not in hw_store.read_bytes()


class TestClipCounts:
    def test_more_clips_than_the_model_has_says_so_and_uses_all(self, hw_model, hw_features):
        from qser_core.hardware.evaluation import clip_sets

        everything, _ = clip_sets(hw_model, features=hw_features)
        with pytest.warns(UserWarning, match=rf"100000 test clips asked for, but the model has {len(everything)}"):
            test, _ = clip_sets(hw_model, features=hw_features, n_clips=100_000)
        assert test.clips == everything.clips

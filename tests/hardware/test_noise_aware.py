"""Tests of noise-aware training (calibrated rates, torch.noisy, the normalisation), the comparison and the advisor.

Real fake backends and Aer, tiny sizes (3 qubits, a few clips, low shots): the machine is shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qser_core.config import HardwareConfig, QserConfig
from qser_core.progress import CancelToken, RunContext
from qser_core.errors import ConfigError, TrainingCancelled
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.executors import executor_names, get_executor

REPO = Path(__file__).resolve().parents[2]
SPEC = CircuitSpec(3, 1, ansatz="strong")


class TestCalibratedRates:
    def test_rates_come_from_the_device_and_scale_with_lambda(self):
        from qser_core.hardware.noise_aware import calibrated_rates

        one = calibrated_rates(SPEC, "ibm_torino")
        assert one.p1.shape == (3,) and one.readout.shape == (3, 2) and one.p2.min() > 0 and one.readout.min() > 0
        assert one.source["backend"] == "ibm_torino" and len(one.source["layout"]) == 3
        two = calibrated_rates(SPEC, "ibm_torino", noise_scale=2.0)
        np.testing.assert_allclose(two.p2, np.minimum(2 * one.p2, 0.75))
        assert calibrated_rates(SPEC, "ibm_torino", noise_scale=0).noiseless
        with pytest.raises(ConfigError, match="noise scale"):
            calibrated_rates(SPEC, "ibm_torino", noise_scale=-1)

    def test_lambda_zero_reproduces_the_ideal_executor_exactly(self):
        assert "torch.noisy" in executor_names(trainable=True)
        noisy = get_executor("torch.noisy", SPEC, backend="ibm_fez", noise_scale=0.0).train()
        ideal = get_executor("torch", SPEC)
        x, w = torch.rand(9, 3) * 3, torch.rand(SPEC.weight_shape) * 6
        assert torch.equal(noisy(x, w), ideal(x, w))
        noisy_at_one = get_executor("torch.noisy", SPEC, backend="ibm_fez", noise_scale=1.0).eval()
        assert not torch.equal(noisy_at_one(x, w), ideal(x, w))


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, np.pi, (n, 3)), np.arange(n) % 6


class TestNoiseAwareHead:
    def _fit(self, X, y, X_val, y_val):
        from qser_core.heads.quantum import QuantumHead

        return QuantumHead(n_layers=1, ansatz="strong", epochs=1, noise_aware=True, noise_backend="ibm_fez",
                           seed=0).fit(X, y, X_val=X_val, y_val=y_val)

    def test_normalisation_is_fitted_on_the_training_clips_only(self):
        from qser_core.hardware.noise_aware import calibrated_rates
        from qser_core.heads.noisy_simulator import NoisyTorchStatevector

        X, y = _data(48, 0)
        head = self._fit(X, y, *_data(24, 1))
        other = self._fit(X, y, *_data(30, 2))  # other validation clips: the same statistics and readout
        norm = head.noise_["norm"]
        assert norm["n_clips"] == len(X)
        assert norm == other.noise_["norm"]
        assert torch.equal(head.module_.readout.weight, other.module_.readout.weight)
        # the statistics are those of the training clips' ⟨Z⟩ under the expected device noise
        sim = NoisyTorchStatevector(head.spec_, calibrated_rates(head.spec_, "ibm_fez")).eval()
        with torch.no_grad():
            z = sim(torch.as_tensor(X, dtype=torch.float32), head.module_.weights).double()
        np.testing.assert_allclose(norm["mean"], z.mean(0).numpy(), atol=1e-5)
        np.testing.assert_allclose(norm["std"], z.std(0, unbiased=False).numpy(), rtol=1e-3)
        changed = self._fit(X[:40], y[:40], *_data(24, 1))
        assert changed.noise_["norm"]["mean"] != norm["mean"]

    def test_fitted_head_runs_ideally_with_the_normalisation_in_its_readout(self):
        X, y = _data(48, 0)
        head = self._fit(X, y, *_data(24, 1))
        assert head.module_.executor.name == "torch"
        assert torch.allclose(head.module_.norm.mean, torch.zeros(3))  # folded: the readout carries it
        assert head.noise_["rates"]["backend"] == "ibm_fez" and head.noise_["rates"]["noise_scale"] == 1.0
        proba = head.predict_proba(X)
        assert proba.shape == (48, 6) and np.allclose(proba.sum(1), 1)

    def test_noise_aware_needs_the_torch_executor(self):
        from qser_core.heads.quantum import QuantumHead

        with pytest.raises(ConfigError, match="torch simulator"):
            QuantumHead(n_layers=1, epochs=1, noise_aware=True, executor="default.qubit").fit(*_data(12, 0))


class TestConfig:
    def test_defaults_leave_existing_digests_and_noise_fields_count_when_on(self):
        base = QserConfig()
        assert "noise_aware" not in base.head.key_dict() and "noise_backend" not in base.head.key_dict()
        assert base.replace("head", noise_backend="ibm_torino").digest() == base.digest()  # unused while off
        on = base.with_overrides(["head.noise_aware=true"])
        assert on.head.noise_aware is True and on.digest() != base.digest()
        assert on.replace("head", noise_scale=2.0).digest() != on.digest()
        with pytest.raises(ConfigError, match="noise_scale"):
            base.with_overrides(["head.noise_scale=-1"])

    def test_noise_aware_is_a_sweep_axis(self):
        from qser_core.experiments.sweeps.grid import expand_grid, parse_grid

        grid = parse_grid(["head.noise_aware=false,true", "head.noise_scale=0.5,1"])
        assert grid == {"head.noise_aware": ["false", "true"], "head.noise_scale": ["0.5", "1"]}
        cells = expand_grid(QserConfig(), grid)
        assert {c.config.head.noise_aware for c in cells} == {False, True}
        # noise_scale changes nothing while noise_aware is off: those two cells are one fit
        assert len({c.digest for c in cells}) == 3


@pytest.fixture(scope="module")
def aware_model(hw_config, hw_features):
    from qser_core.experiments.protocols.single import train_model

    return train_model(hw_config.replace("head", noise_aware=True, noise_backend="ibm_torino"), features=hw_features,
                       context=RunContext(track=False))


class TestComparisonAndAdvice:
    def test_saved_noise_aware_head_loads_and_predicts_the_same(self, aware_model, tmp_path):
        from qser_core.experiments.models.trained import load_model

        back = load_model(aware_model.save(tmp_path / "aware"))
        X = np.random.default_rng(0).uniform(0, np.pi, (5, 3))
        np.testing.assert_allclose(back.head.predict_proba(X), aware_model.head.predict_proba(X), atol=1e-6)
        assert back.config.head.noise_aware and back.head.noise_["norm"]["n_clips"] > 0

    def test_both_heads_scored_on_the_same_clips_with_paired_tests(self, hw_model, aware_model, hw_features):
        from qser_core.hardware.noise_aware import compare_training

        out = compare_training({"ideal": hw_model, "noise_aware": aware_model}, backend="ibm_torino",
                               noise_scales=(1.0,), shots=128, n_clips=8, recalibrate=6, features=hw_features)
        (point,) = out["points"]
        assert out["jobs"] == 2 and out["n_test"] == 8
        for name in ("ideal", "noise_aware"):
            assert 0 <= point[name]["ua"] <= 1 and 0 <= point[name]["agreement"] <= 1
            assert "recalibrated" in point[name]
        d = point["paired"]
        assert d["ua_diff"] == pytest.approx(point["noise_aware"]["ua"] - point["ideal"]["ua"])
        assert d["ua_diff_ci95"][0] <= d["ua_diff"] <= d["ua_diff_ci95"][1] and "mcnemar" in d
        assert isinstance(out["verdict"], str) and set(out["helps"]) == {"1.0"}
        with pytest.raises(ConfigError, match="ideal and noise_aware"):
            compare_training({"a": hw_model, "b": aware_model})

    def test_advice_meets_both_conditions_and_the_budget(self, hw_model, hw_features):
        from qser_core.hardware.advisor import advise
        from qser_core.hardware.estimate import estimate_qpu_time
        from qser_core.hardware.run import plan

        out = advise(hw_model, backend="ibm_fez", shots=(64, 512), n_clips=8, target=0.5, features=hw_features)
        assert [p["shots"] for p in out["points"]] == [64, 512] and out["budget_s"] == 600.0
        rec = out["recommendation"]
        assert out["meets_target"] == (rec["shots"] is not None)
        if rec["shots"] is None:
            assert "no shot count" in rec["reason"]
        else:
            chosen = next(p for p in rec["checked"] if p["shots"] == rec["shots"])
            assert chosen["agreement"] >= 0.5 and chosen["ua_ok"] and out["budget_shots"] == rec["shots"]
            assert all(not (p["agreement_ok"] and p["ua_ok"]) for p in rec["checked"] if p["shots"] < rec["shots"])
        run, device = plan(hw_model, HardwareConfig(backend="ibm_fez", clips=8), fake=True, features=hw_features)
        cost = lambda n: estimate_qpu_time(run.isa, device, n_rows=n, shots=out["budget_shots"])["quantum_seconds"]  # noqa: E731
        assert cost(out["clips_fit"]) <= 600 < cost(out["clips_fit"] + 1)


class TestStop:
    """Stop (the context's cancel token) is checked before each job; the call raises and keeps no half result."""

    @staticmethod
    def _stop_after(jobs: int) -> RunContext:
        token = CancelToken()

        def progress(done, total, message=""):
            if done == jobs:
                token.cancel()  # as the page's Stop does while job ``jobs`` + 1 is about to start

        return RunContext(progress=progress, cancel=token, track=False)

    def test_advice_stops_between_shot_counts(self, hw_model, hw_features):
        from qser_core.hardware.advisor import advise

        with pytest.raises(TrainingCancelled, match="stopped after 1 of 2 shot counts; nothing is recommended"):
            advise(hw_model, backend="ibm_fez", shots=(64, 512), n_clips=8, features=hw_features,
                   context=self._stop_after(1))

    def test_comparison_stops_between_jobs(self, hw_model, aware_model, hw_features):
        from qser_core.hardware.noise_aware import compare_training

        with pytest.raises(TrainingCancelled, match="stopped after 1 of 2 jobs; no verdict"):
            compare_training({"ideal": hw_model, "noise_aware": aware_model}, backend="ibm_torino",
                             noise_scales=(1.0,), shots=128, n_clips=8, recalibrate=0, features=hw_features,
                             context=self._stop_after(1))


class TestRecommend:
    def test_no_shot_count_qualifies(self):
        from qser_core.hardware.advisor import recommend

        rec = recommend([{"shots": 64, "agreement": 0.9, "ua": 0.5}, {"shots": 1024, "agreement": 0.93, "ua": 0.5}],
                        (0.4, 0.6))
        assert rec["shots"] is None and "1024 shots (93.0%)" in rec["reason"]

    def test_ua_outside_the_ideal_interval_is_not_enough(self):
        from qser_core.hardware.advisor import recommend

        pts = [{"shots": 64, "agreement": 0.97, "ua": 0.3}, {"shots": 256, "agreement": 0.97, "ua": 0.45}]
        assert recommend(pts, (0.4, 0.6))["shots"] == 256
        with pytest.raises(ConfigError, match="target"):
            recommend(pts, (0.4, 0.6), target=1.5)

    def test_clips_within_is_the_largest_that_fits(self):
        from qser_core.hardware.advisor import clips_within

        assert clips_within(10.0, lambda n: 2 + 0.5 * n) == 16
        assert clips_within(1.0, lambda n: 2 + 0.5 * n) == 0


@pytest.mark.slow
def test_cli_advise_prints_one_json_object(hw_model_dir, hw_store):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "qser_core.cli", "hardware", "advise", "--model", str(hw_model_dir),
                           "--backend", "ibm_fez", "--shots", "64", "256", "--clips", "6", "--budget-s", "120",
                           "--json"], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["budget_s"] == 120 and out["budget_source"] == "account" and len(out["points"]) == 2

"""Tests of ``qser hardware``: real subprocesses, so records cross process boundaries and secrets are checked in output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECRET = "qser-test-key-7f3a9c1e5b"


def _qser(*args, env):
    return subprocess.run([sys.executable, "-m", "qser_core.cli", "hardware", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)


@pytest.fixture
def env(hw_store):
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.slow
class TestAcrossProcesses:
    def test_job_written_by_one_process_is_fetched_by_another(self, hw_model_dir, env):
        ran = _qser("run", "--model", str(hw_model_dir), "--backend", "ibm_torino", "--fake", "--shots", "64",
                    "--clips", "6", "--json", env=env)
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout)
        assert result["jobs"] == 1 and result["noisy"]["jobs"] == 1 and result["ideal"]["jobs"] == 0
        assert "depth" in ran.stderr and "QPU s" in ran.stderr  # the plan is shown before dispatch
        fetched = _qser("fetch", result["job_ids"][0], "--json", env=env)
        assert fetched.returncode == 0, fetched.stderr
        back = json.loads(fetched.stdout)
        assert back["run_id"] == result["run_id"] and back["noisy"] == result["noisy"] and back["fetched"] is False
        status = json.loads(_qser("status", "--json", env=env).stdout)
        assert [j["status"] for j in status["jobs"] if j["job_id"] == result["job_ids"][0]] == ["DONE"]


@pytest.mark.slow
class TestSecrets:
    def test_key_from_environment_appears_nowhere_after_failed_login(self, hw_model_dir, env, tmp_path):
        home = tmp_path / "home"
        env = {**env, "QISKIT_IBM_TOKEN": SECRET, "QSER_HOME": str(home),
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'store.db'}"}
        ran = _qser("run", "--model", str(hw_model_dir), "--backend", "ibm_fez", "--shots", "64", "--json", env=env)
        assert ran.returncode == 1 and "could not log in to IBM Quantum" in ran.stderr
        listed = _qser("backends", "--json", env=env)
        assert listed.returncode == 0 and json.loads(listed.stdout)["account"]["connected"] is False
        status = _qser("status", "--json", env=env)
        for out in (ran, listed, status):
            assert SECRET not in out.stdout + out.stderr
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
class TestSamplerRun:
    def test_layout_only_measurement_and_estimate_fields(self, hw_model_dir, env):
        ran = _qser("run", "--model", str(hw_model_dir), "--backend", "ibm_fez", "--fake", "--sampler", "--readout",
                    "mthree", "--clips", "6", "--shots", "64", "--json", env=env)
        assert ran.returncode == 0, ran.stderr
        result = json.loads(ran.stdout)
        assert result["measured_qubits"] == result["transpiled"]["layout"] and len(result["measured_qubits"]) == 3
        estimate = result["estimate"]
        assert estimate["quantum_seconds"] >= estimate["ibm_quick_formula_s"] > 2
        assert estimate["max_execution_time_s"] >= estimate["quantum_seconds"] and estimate["remaining_s"] == 600
        assert "simulated offline (nothing is sent" in ran.stderr and "Send" not in ran.stderr


class TestUsage:
    def test_offline_backends_show_no_queue(self, env):
        env = {**env}
        env.pop("QISKIT_IBM_TOKEN", None)
        out = _qser("backends", "--fake", env=env)
        assert out.returncode == 0 and "queue" not in out.stdout
        assert out.stdout.splitlines()[0].startswith("ibm_fez") and "retired" in out.stdout
        assert "default (--backend auto): ibm_fez" in out.stdout


    def test_curve_needs_an_axis(self, hw_model_dir, env):
        out = _qser("curve", "--model", str(hw_model_dir), "--backend", "ibm_fez", env=env)
        assert out.returncode == 2 and "one of the arguments --noise-scales --shots is required" in out.stderr

    def test_readout_mitigation_needs_the_sampler(self, hw_model_dir, env):
        out = _qser("run", "--model", str(hw_model_dir), "--backend", "ibm_fez", "--fake", "--clips", "6",
                    "--readout", "mthree", env=env)
        assert out.returncode == 2 and "corrects the Sampler's bit strings" in out.stderr

    def test_unknown_device(self, hw_model_dir, env):
        out = _qser("run", "--model", str(hw_model_dir), "--backend", "ibm_nowhere", "--fake", env=env)
        assert out.returncode == 1 and "no offline fake backend for IBM device 'ibm_nowhere'" in out.stderr


class TestFlagsAreConfigOverrides:
    """Each ``qser hardware run|curve`` flag overrides one ``hardware.*`` field (through the parser, no subprocess)."""

    @staticmethod
    def _hardware(*argv, action="run"):
        from qser_core.cli import build_parser
        from qser_core.cli.hardware import hardware_config

        return hardware_config(build_parser().parse_args(["hardware", action, "--model", "m", *argv])).hardware

    def test_no_flags_leave_the_config_as_it_is(self):
        from qser_core.config import HardwareConfig

        assert self._hardware() == HardwareConfig()
        assert self._hardware("--set", "hardware.clips=9", "--set", "hardware.dynamical_decoupling=true") == \
            HardwareConfig(clips=9, dynamical_decoupling=True)

    def test_every_flag_sets_its_field(self):
        import dataclasses

        from qser_core.cli.common import FLAG_NAMES
        from qser_core.config import HardwareConfig

        hw = self._hardware("--backend", "ibm_torino", "--shots", "64", "--optimization-level", "2", "--instance",
                            "crn:v1:x", "--sampler", "--readout", "mthree", "--resilience", "0", "--dd",
                            "--transpile-trials", "3", "--layout", "4,5,6", "--clips", "6", "--recalibrate", "10",
                            "--noise-scale", "0.5")
        assert hw == HardwareConfig(backend="ibm_torino", shots=64, optimization_level=2, instance="crn:v1:x",
                                    primitive="sampler", readout="mthree", resilience_level=0,
                                    dynamical_decoupling=True, transpile_trials=3, layout=(4, 5, 6), clips=6,
                                    recalibrate=10, noise_scale=0.5)
        named = {key.split(".", 1)[1] for key in FLAG_NAMES if key.startswith("hardware.")}
        assert named == {f.name for f in dataclasses.fields(HardwareConfig)}  # every knob has its flag

    def test_a_flag_wins_over_set(self):
        hw = self._hardware("--set", "hardware.clips=9", "--clips", "6", "--set", "hardware.primitive=sampler")
        assert (hw.clips, hw.primitive) == (6, "sampler")

    def test_curve_shot_axis_is_not_the_config_shots(self):
        hw = self._hardware("--shots", "64", "256", "--set", "hardware.shots=128", action="curve")
        assert hw.shots == 128 and hw.noise_scale == 1.0

    @pytest.mark.parametrize("argv, match", [
        (["--transpile-trials", "0"], r"hardware.transpile_trials must be between 1 and 64; got 0"),
        (["--readout", "mthree"], r"hardware.readout must be none with the estimator primitive .*Sampler's bit"),
        (["--set", "hardware.layout=4,4"], r"hardware.layout must be distinct physical qubit numbers"),
        (["--noise-scale", "-1"], r"hardware.noise_scale must be a finite number ≥ 0"),
    ])
    def test_bad_flag_values_are_config_errors(self, argv, match):
        from qser_core.errors import ConfigError

        with pytest.raises(ConfigError, match=match):
            self._hardware(*argv)


class TestStatusText:
    def test_recorded_hardware_config_is_shown_in_brief(self):
        import dataclasses

        from qser_core.cli.hardware import _knobs_text
        from qser_core.config import HardwareConfig

        recorded = {**dataclasses.asdict(HardwareConfig(primitive="sampler", readout="mthree", clips=8)), "layout": [1, 2]}
        assert _knobs_text(recorded) == "  [sampler, readout=mthree, layout=[1, 2], clips=8]"
        assert _knobs_text(None) == ""  # jobs recorded before the config was stored


class TestArgumentsFirst:
    def test_noise_scale_without_fake_is_refused_before_the_model_is_read(self, capsys):
        from qser_core.cli import main

        assert main(["hardware", "run", "--model", "/no/such/model", "--noise-scale", "2"]) == 2
        err = capsys.readouterr().err
        assert "--noise-scale scales the offline noise simulation only" in err and "no/such/model" not in err

    def test_readout_without_sampler_is_refused_before_the_model_is_read(self, capsys):
        from qser_core.cli import main

        assert main(["hardware", "run", "--model", "/no/such/model", "--fake", "--readout", "mthree"]) == 2
        err = capsys.readouterr().err
        assert "hardware.readout must be none with the estimator primitive" in err and "no/such/model" not in err

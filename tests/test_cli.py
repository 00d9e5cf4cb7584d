"""Tests of the `qser` command line: help, config handling, exit codes, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qser_core.cli import build_parser, main
from qser_core.data.demo import demo_speakers
from qser_core.errors import ConfigError
from qser_core.experiments.metrics import IntervalWarning

SUBCOMMANDS = [
    ["data", "demo"],
    ["data", "index"],
    ["data", "download"],
    ["extract"],
    ["evaluate"],
    ["train"],
    ["hybrid"],
    ["predict"],
    ["runs"],
    ["compare"],
    ["config", "show"],
]


class TestHelp:
    def test_top_level_help_lists_every_subcommand(self, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        for name in ("data", "extract", "evaluate", "train", "hybrid", "predict", "runs", "compare", "config"):
            assert name in out

    @pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
    def test_each_subcommand_has_help_with_config_flags(self, words, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main([*words, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "--config" in out and "--set" in out and "--json" in out

    def test_defaults_are_shown(self, capsys):
        with pytest.raises(SystemExit):
            main(["data", "demo", "--help"])
        assert "(default: 12)" in capsys.readouterr().out

    def test_console_script_is_installed(self):
        result = subprocess.run([sys.executable, "-m", "qser_core.cli", "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "evaluate" in result.stdout


class TestConfig:
    def test_config_show_json_is_one_object(self, capsys):
        assert main(["config", "show", "--json", "--set", "reduce.n_qubits=5"]) == 0
        out = capsys.readouterr().out
        assert json.loads(out)["reduce"]["n_qubits"] == 5

    def test_config_file_then_overrides(self, tmp_path, capsys):
        path = tmp_path / "exp.toml"
        path.write_text("[head]\nn_layers = 3\nansatz = \"hea\"\n")
        assert main(["config", "show", "--json", "--config", str(path), "--set", "head.n_layers=4"]) == 0
        head = json.loads(capsys.readouterr().out)["head"]
        assert head == {**head, "n_layers": 4, "ansatz": "hea"}

    def test_config_errors_exit_2_with_the_message(self, capsys):
        assert main(["config", "show", "--set", "reduce.n_qubits=40"]) == 2
        assert "reduce.n_qubits must be between 2 and 12; got 40" in capsys.readouterr().err

    def test_dataset_without_folder_is_a_config_error(self, capsys):
        assert main(["extract", "--dataset", "crema-d"]) == 2
        assert "data.data_dir is empty" in capsys.readouterr().err

    def test_unknown_choice_is_a_usage_error(self):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(["evaluate", "--head", "svm"])
        assert exit_info.value.code == 2


#: Clips of the demo corpus this tier uses (the fast tier's is smaller: tests/conftest.py).
DEMO_CLIPS = demo_speakers() * 12 * 6
FAST = ["--set", "train.epochs=3", "--set", "train.patience=3", "--qubits", "4", "--layers", "1"]


class TestPipeline:
    """The documented commands on the demo corpus: one JSON object on stdout, progress on stderr."""

    def test_data_demo_and_index(self, tmp_path, capsys):
        assert main(["data", "demo", "--out", str(tmp_path / "demo"), "--speakers", "2", "--json"]) == 0
        written = json.loads(capsys.readouterr().out)
        assert written["n_clips"] == 2 * 12 * 6 and written["synthetic"] is True
        assert main(["data", "index", str(tmp_path / "demo"), "--json"]) == 0
        index = json.loads(capsys.readouterr().out)
        assert index["n_clips"] == 144 and index["n_speakers"] == 2
        assert set(index["emotion"]) == {"ANG", "DIS", "FEA", "HAP", "NEU", "SAD"}

    def test_index_of_a_missing_folder_exits_1_with_a_message(self, tmp_path, capsys):
        assert main(["data", "index", str(tmp_path / "nowhere")]) == 1
        assert "nowhere" in capsys.readouterr().err

    def test_evaluate_json(self, capsys):
        code = main(["evaluate", "--head", "quantum", "--folds", "2", "--seeds", "2", "--no-track", "--json", *FAST])
        assert code == 0
        captured = capsys.readouterr()
        result = json.loads(captured.out)
        assert "SYNTHETIC" in captured.err  # the demo corpus is labelled plainly
        for key in ("ua", "ua_ci95", "wa", "macro_f1", "n_clips", "n_speakers", "folds", "seeds", "params"):
            assert key in result
        assert result["folds"] == 2 and result["seeds"] == [0, 1]

    def test_evaluate_several_heads_json(self, capsys):
        with pytest.warns(IntervalWarning, match="only 2 values behind this 95% interval"):  # 2 folds × 1 seed
            code = main(["evaluate", "--head", "logreg,quantum", "--folds", "2", "--no-track", "--json", *FAST])
        assert code == 0
        captured = capsys.readouterr()
        result = json.loads(captured.out)
        assert result["heads"] == ["logreg", "quantum"] and result["reference"] == "quantum"
        for summary in result["results"].values():
            assert summary["folds"] == 2 and summary["n_clips"] == DEMO_CLIPS and 0 <= summary["ua"] <= 1
        paired = result["paired"]["logreg"]
        assert list(result["paired"]) == ["logreg"] and paired["n_clips"] == DEMO_CLIPS
        assert 0 <= paired["mcnemar"]["p_value"] <= 1 and "ci95" in paired["bootstrap"]
        assert "logreg fold 1 seed 0: epoch 1/3" in captured.err and "best val UA" in captured.err

    def test_evaluate_rejects_an_unknown_head_in_the_list(self, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", "--head", "logreg,qsvm"])
        assert exit_info.value.code == 2
        assert "got 'logreg,qsvm'" in capsys.readouterr().err

    def test_hybrid_takes_no_head_flag(self, capsys):
        with pytest.raises(SystemExit):
            main(["hybrid", "--help"])
        out = capsys.readouterr().out
        assert "--head " not in out and "--qubits" in out

    def test_train_then_predict(self, tmp_path, capsys, qser_home):
        out = tmp_path / "model"
        assert main(["train", "--head", "mlp", "--out", str(out), "--no-track", "--json", *FAST]) == 0
        captured = capsys.readouterr()
        trained = json.loads(captured.out)
        assert "mlp: epoch 1/3, train loss" in captured.err  # per-epoch progress on stderr
        assert trained["out"] == str(out) and 0 <= trained["ua"] <= 1
        clip = next((qser_home / "demo").rglob("*_ANG_*.wav"))
        assert main(["predict", str(clip), "--model", str(out), "--json"]) == 0
        prediction = json.loads(capsys.readouterr().out)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction["emotion"] in prediction["probabilities"]

    def test_predict_a_corrupt_clip_names_it(self, tmp_path, capsys):
        bad = tmp_path / "broken.wav"
        bad.write_bytes(b"RIFF0000WAVEjunk")
        model = tmp_path / "model"
        assert main(["train", "--head", "logreg", "--out", str(model), "--no-track", *FAST]) == 0
        capsys.readouterr()
        assert main(["predict", str(bad), "--model", str(model)]) == 1
        assert "broken.wav" in capsys.readouterr().err

    def test_compare_two_recorded_runs(self, capsys):
        run_ids = []
        for head in ("logreg", "quantum"):
            with pytest.warns(IntervalWarning, match="only 2 values"):  # 2 folds × 1 seed: said, not hidden
                assert main(["evaluate", "--head", head, "--folds", "2", "--json", *FAST]) == 0
            run_ids.append(json.loads(capsys.readouterr().out)["run_id"])
        assert main(["compare", *run_ids, "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["n_clips"] == DEMO_CLIPS and 0.0 <= result["mcnemar"]["p_value"] <= 1.0
        assert result["bootstrap"]["ci95"][0] <= result["bootstrap"]["diff"] <= result["bootstrap"]["ci95"][1]

    def test_compare_runs_on_different_folds_is_refused(self, capsys):
        run_ids = []
        with pytest.warns(IntervalWarning, match="only 2 values"):  # the 2-fold run says its interval is weak
            for folds in ("2", "3"):
                assert main(["evaluate", "--head", "logreg", "--folds", folds, "--json", *FAST]) == 0
                run_ids.append(json.loads(capsys.readouterr().out)["run_id"])
        assert main(["compare", *run_ids]) == 1
        assert "different folds" in capsys.readouterr().err


class TestRunsTable:
    def test_narrow_rounded_and_interval_in_one_column(self):
        import numpy as np
        import pandas as pd

        from qser_core.cli.runs import runs_text
        from qser_core.tracking.reader import RUN_COLUMNS

        row = dict.fromkeys(RUN_COLUMNS)
        row.update(run_id="0123456789abcdef", start_time=pd.Timestamp("2026-11-30 14:03:12.5"), run_type="evaluate",
                   qser_status="finished", dataset="emodb", head="quantum", n_qubits=8, n_layers=2, ua=0.53312345,
                   ua_ci95_low=0.45, ua_ci95_high=0.615, wa=0.57, macro_f1=0.5123456, params=120)
        unscored = dict(row, run_id="fedcba9876543210", ua=np.nan, ua_ci95_low=np.nan, ua_ci95_high=np.nan)
        lines = runs_text(pd.DataFrame([row, unscored])).splitlines()
        assert max(map(len, lines)) < 140
        assert "0.533" in lines[1] and "[0.450, 0.615]" in lines[1] and "0.53312345" not in lines[1]
        assert lines[1].split()[0] == "01234567" and "2026-11-30 14:03 " in lines[1]
        assert "nan" not in lines[2]


class TestQuietOutput:
    def test_finished_progress_bar_is_closed(self, capsys):
        from qser_core.cli.common import TqdmProgress

        progress = TqdmProgress()
        progress(0, 864, "cached")
        assert progress._bar is not None
        progress(864, 864, "864 of 864 clips cached")  # a finished stage must not keep its clock ticking
        assert progress._bar is None
        progress(3, 3, "done")  # a stage reported only as finished draws no bar at all
        assert progress._bar is None and "0/3" not in capsys.readouterr().err

    def test_warnings_print_one_line_without_the_source(self, capsys):
        import warnings

        from qser_core.cli import _one_line_warning

        before = warnings.formatwarning
        text = _one_line_warning(UserWarning("only 2 values"), UserWarning, "/x/crossval.py", 202, "mean = f()")
        assert text == "qser: warning: only 2 values\n" and "crossval.py" not in text
        assert main(["config", "show"]) == 0
        assert warnings.formatwarning is before  # main() restores what it changed

    def test_qiskit_token_notice_is_dropped_during_main(self, capsys):
        import logging

        from qser_core.cli import _quiet_libraries

        log = logging.getLogger("qiskit_ibm_runtime.qiskit_runtime_service")
        added = _quiet_libraries()
        try:
            keep = log.makeRecord(log.name, logging.WARNING, "f", 1, "Loading default account", None, None)
            drop = log.makeRecord(log.name, logging.WARNING, "f", 1, "Loading account with the given token. A saved "
                                  "account will not be used.", None, None)
            assert log.filter(keep) and not log.filter(drop)
        finally:
            for logger, quiet in added:
                logger.removeFilter(quiet)


class TestFlagsAndSet:
    def _config(self, *argv):
        from qser_core.cli.common import config_from, pipeline_flags

        args = build_parser().parse_args(["evaluate", *argv])
        return config_from(args, **pipeline_flags(args))

    @pytest.mark.parametrize(("argv", "field", "value", "note"), [
        (["--qubits", "4", "--set", "reduce.n_qubits=6"], ("reduce", "n_qubits"), 4,
         "--qubits 4 wins over --set reduce.n_qubits=6"),
        (["--folds", "3", "--set", "data.n_folds=4"], ("data", "n_folds"), 3, "--folds 3 wins over --set data.n_folds=4"),
        (["--seeds", "2", "--set", "train.seeds=5"], ("train", "seeds"), (0, 1), "--seeds 2 wins over --set train.seeds=5"),
        (["--qubits", "4", "--set", "reduce.n_qubits=4"], ("reduce", "n_qubits"), 4, None),
    ], ids=["qubits", "folds", "seeds", "same-value"])
    def test_flag_wins_and_says_so(self, capsys, argv, field, value, note):
        config = self._config(*argv)
        assert getattr(getattr(config, field[0]), field[1]) == value
        err = capsys.readouterr().err
        assert (note in err) if note else "wins over" not in err

    def test_a_bad_set_value_is_refused_even_under_a_flag(self):
        with pytest.raises(ConfigError, match="reduce.n_qubits must be between 2 and 12; got 100"):
            self._config("--qubits", "4", "--set", "reduce.n_qubits=100")


class TestArgumentTypes:
    @pytest.mark.parametrize(("argv", "message"), [
        (["--layout", "a,b,c,d"], "--layout: must be distinct physical qubit numbers"),
        (["--layout", "0,1,1,2"], "--layout: must be distinct physical qubit numbers"),
        (["--recalibrate", "-1"], "--recalibrate: must be a whole number, 0 or more; got '-1'"),
    ])
    def test_hardware_run_flags(self, capsys, argv, message):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(["hardware", "run", "--model", "m", *argv])
        assert info.value.code == 2
        error = capsys.readouterr().err.splitlines()[-1]  # the usage lines above it list every flag
        assert message in error and "--clips" not in error


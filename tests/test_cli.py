"""Tests of the `qser` command line: help, config handling, exit codes, JSON output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qser_core.cli import build_parser, main

SUBCOMMANDS = [
    ["data", "demo"],
    ["data", "index"],
    ["data", "download"],
    ["extract"],
    ["evaluate"],
    ["train"],
    ["predict"],
    ["runs"],
    ["config", "show"],
]


class TestHelp:
    def test_top_level_help_lists_every_subcommand(self, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main(["--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        for name in ("data", "extract", "evaluate", "train", "predict", "runs", "config"):
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

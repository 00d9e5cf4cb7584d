"""Tests of qser_core.tracking.reader: listing, loading and deleting recorded runs (real SQLite stores)."""

from __future__ import annotations

import pandas as pd
import pytest

from qser_core.errors import ConfigError, DataError
from qser_core.tracking.reader import RUN_COLUMNS, delete_run, list_runs, load_run
from qser_core.tracking.recorder import track_run

from factories import finished_run


class TestListRuns:
    def test_rows_and_columns(self, store, tmp_path, tracking_config):
        first = finished_run(tracking_config, tmp_path)
        logreg = tracking_config.replace("head", kind="logreg")
        with track_run(logreg, run_type="train") as second:
            second.log_final({"ua": 0.2})
        runs = list_runs()
        assert tuple(runs.columns) == RUN_COLUMNS
        assert runs["run_id"].tolist() == [second.run_id, first]  # newest first
        quantum, classical = runs.set_index("run_id").loc[first], runs.set_index("run_id").loc[second.run_id]
        assert quantum["head"] == "quantum" and quantum["ansatz"] == "basic" and quantum["n_layers"] == 2
        assert quantum["n_qubits"] == 4 and quantum["seeds"] == "0,1" and quantum["run_type"] == "evaluate"
        assert quantum["ua_ci95_low"] == pytest.approx(0.35) and quantum["params"] == 24
        assert quantum["duration_s"] >= 0 and quantum["qser_status"] == "finished"
        assert classical["head"] == "logreg" and pd.isna(classical["ansatz"]) and pd.isna(classical["n_layers"])
        assert isinstance(runs["start_time"].iloc[0], pd.Timestamp)

    def test_filter_and_limit(self, store, tracking_config):
        for kind in ("logreg", "mlp", "logreg"):
            with track_run(tracking_config.replace("head", kind=kind), run_type="train"):
                pass
        assert len(list_runs(filter_string="params.`head.kind` = 'logreg'")) == 2
        assert len(list_runs(filter_string="tags.`qser.head` = 'mlp'")) == 1
        assert len(list_runs(max_results=1)) == 1

    def test_unknown_experiment_gives_empty_frame(self, store):
        runs = list_runs(experiment="never-used")
        assert runs.empty and tuple(runs.columns) == RUN_COLUMNS

    def test_delete_run(self, store, tracking_config):
        with track_run(tracking_config, run_type="train") as recorder:
            pass
        delete_run(recorder.run_id)
        assert list_runs().empty



class TestInputs:
    def test_unknown_run_id(self, store):
        with pytest.raises(DataError, match="no run with id 'nope' in sqlite:///.*; list the runs with `qser runs`"):
            load_run("nope")

    def test_bad_filter_and_limit(self, store, tracking_config):
        with track_run(tracking_config, run_type="train"):
            pass
        with pytest.raises(ConfigError, match="cannot search runs with filter 'head = quantum'"):
            list_runs(filter_string="head = quantum")
        with pytest.raises(ConfigError, match="max_results must be between 1 and 50000; got 0"):
            list_runs(max_results=0)


class TestRunIds:
    def test_unique_prefix(self, store, tracking_config):
        with track_run(tracking_config, run_type="train") as recorder:
            pass
        assert load_run(recorder.run_id[:6])["run_id"] == recorder.run_id
        assert load_run(recorder.run_id.upper()[:8])["run_id"] == recorder.run_id

    def test_ambiguous_and_short_prefixes(self, tmp_path, tracking_config, monkeypatch):
        from qser_core.tracking import reader

        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'own.db'}")  # no other test's runs

        ids = []
        while True:  # record runs until two share a first character (at most 17 by pigeonhole)
            with track_run(tracking_config, run_type="train") as recorder:
                pass
            ids.append(recorder.run_id)
            shared = [i for i in ids if i[0] == recorder.run_id[0]]
            if len(shared) > 1:
                break
        with pytest.raises(DataError, match=r"give the full id or a unique prefix of at least 4 characters"):
            reader.resolve_run_id(shared[0][:1])
        monkeypatch.setattr(reader, "_MIN_PREFIX", 1)  # so one shared character is enough to be ambiguous
        with pytest.raises(DataError, match=rf"run id prefix '{shared[0][0]}' matches 2 runs .*give more characters"):
            reader.resolve_run_id(shared[0][:1])


class TestConfig:
    def test_config_is_read_from_config_toml(self, store, tracking_config):
        from pathlib import Path

        with track_run(tracking_config, run_type="train") as recorder:
            pass
        record = load_run(recorder.run_id)
        stored = Path(record["artifact_uri"].removeprefix("file://")) / "config.toml"
        edited = tracking_config.replace("head", n_layers=5)
        stored.write_text(edited.to_toml(), encoding="utf-8")  # the params still say n_layers = 2
        assert load_run(recorder.run_id)["config"] == edited
        assert record["params"]["head.n_layers"] == "2"


class TestCommandLine:
    def test_runs_show_and_import_by_prefix(self, store, tracking_config, capsys):
        import json

        from qser_core.cli import main

        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.5})
            delete_run(recorder.run_id)  # the store refuses the rest: kept locally
        assert main(["runs", "import", str(recorder.unsaved), "--json"]) == 1  # 1: this process had refused results
        new_id = json.loads(capsys.readouterr().out)["run_id"]
        assert main(["runs", "show", new_id[:8], "--json"]) in (0, 1)
        shown = json.loads(capsys.readouterr().out)
        assert shown["run_id"] == new_id and shown["metrics"]["ua"] == 0.5 and shown["qser_status"] == "finished"
        assert shown["config"]["head"]["kind"] == tracking_config.head.kind


class TestRunsCommandWithClassicalRuns:
    """Issue 19, Broken 3: `qser runs` and `--json` crashed (Int64 column vs fillna("")) once a logreg run existed."""

    def test_runs_and_json_in_a_new_process(self, store, tracking_config):
        import json
        import os
        import subprocess
        import sys
        from pathlib import Path

        with track_run(tracking_config.replace("head", kind="logreg"), run_type="train") as logreg:
            logreg.log_final({"ua": 0.2, "params": 54})
        with track_run(tracking_config, run_type="evaluate") as quantum:
            quantum.log_final({"ua": 0.3, "ua_ci95": (0.25, 0.35)})
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(root)}
        table = subprocess.run([sys.executable, "-m", "qser_core.cli", "runs"], capture_output=True, text=True,
                               env=env, timeout=300)
        assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
        rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
        assert "logreg" in rows[logreg.run_id[:8]] and " 54 " in rows[logreg.run_id[:8]] + " "
        assert "[0.250, 0.350]" in rows[quantum.run_id[:8]]
        out = subprocess.run([sys.executable, "-m", "qser_core.cli", "runs", "--json"], capture_output=True, text=True,
                             env=env, timeout=300)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        runs = {r["run_id"]: r for r in json.loads(out.stdout)["runs"]}
        assert runs[logreg.run_id]["n_layers"] is None and runs[quantum.run_id]["n_layers"] == 2

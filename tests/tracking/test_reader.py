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

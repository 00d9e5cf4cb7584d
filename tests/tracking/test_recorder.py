"""Tests of qser_core.tracking.recorder: recording MLflow runs on real SQLite (and file) stores.

Reading runs back (list_runs, load_run, delete_run) is tested in tests/test_runs.py; the tests here
use those readers to check what a run holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qser_core.errors import BackendError, ConfigError, DataError, TrainingCancelled
from qser_core.tracking.reader import delete_run, list_runs, load_json, load_run
from qser_core.tracking.recorder import experiment_name, track_run, tracking_uri

from factories import finished_run


class TestStore:
    def test_default_is_sqlite_under_qser_home(self, tmp_path, monkeypatch, tracking_config):
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        monkeypatch.setenv("QSER_HOME", str(tmp_path / "home"))
        assert tracking_uri() == f"sqlite:///{(tmp_path / 'home' / 'mlflow.db').as_posix()}"
        assert experiment_name() == "qser"
        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.3})
        assert (tmp_path / "home" / "mlflow.db").is_file()
        assert (tmp_path / "home" / "mlartifacts" / recorder.run_id / "artifacts" / "config.toml").is_file()
        assert list_runs()["run_id"].tolist() == [recorder.run_id]

    def test_tracking_uri_env_is_honoured(self, tmp_path, monkeypatch, tracking_config):
        other = tmp_path / "elsewhere" / "runs.db"
        monkeypatch.setenv("QSER_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other}")
        assert tracking_uri() == f"sqlite:///{other}"
        with track_run(tracking_config, run_type="hybrid") as recorder:
            pass
        assert other.is_file() and (other.parent / "mlartifacts").is_dir()
        assert not (tmp_path / "home" / "mlflow.db").exists()
        assert load_run(recorder.run_id)["status"] == "FINISHED"

    def test_file_store_needs_mlflow_opt_in(self, tmp_path, monkeypatch, tracking_config):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
        monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
        with pytest.raises(BackendError, match="cannot open the MLflow tracking store .*MLFLOW_ALLOW_FILE_STORE"):
            list_runs()
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.25})
        runs = list_runs()
        assert runs["run_id"].tolist() == [recorder.run_id]
        assert runs["ua"].tolist() == [0.25]

    def test_experiment_name_env(self, monkeypatch):
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "qser-crema-d")
        assert experiment_name() == "qser-crema-d"

    def test_nothing_printed_to_stdout(self, tmp_path, monkeypatch, capfd, tracking_config):
        # A fresh database: MLflow's "Creating initial MLflow database tables" lines must not reach stdout.
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'quiet.db'}")
        run_id = finished_run(tracking_config, tmp_path)
        list_runs()
        load_run(run_id)
        with pytest.raises(ValueError):
            with track_run(tracking_config, run_type="train"):
                raise ValueError("boom")
        assert capfd.readouterr().out == ""


class TestFinishedRun:
    def test_params_tags_and_final_metrics(self, store, tmp_path, tracking_config):
        record = load_run(finished_run(tracking_config, tmp_path))
        assert record["status"] == "FINISHED" and record["qser_status"] == "finished"
        assert record["params"]["data.dataset"] == "demo"
        assert record["params"]["head.kind"] == "quantum"
        assert record["params"]["train.seeds"] == "[0, 1]"
        assert record["config"] == tracking_config
        tags = record["tags"]
        assert tags["qser.run_type"] == "evaluate" and tags["qser.head"] == "quantum"
        assert tags["qser.backbone"] == "efficientnet-lite0" and tags["qser.dataset"] == "demo"
        assert tags["qser.config_digest"] == tracking_config.digest() and tags["purpose"] == "test"
        assert tags["qser.version"]
        if (Path(__file__).resolve().parents[2] / ".git").exists():
            assert len(tags["qser.git_commit"]) == 40 and tags["mlflow.source.git.commit"] == tags["qser.git_commit"]
        metrics = record["metrics"]
        assert metrics["ua"] == pytest.approx(0.41) and metrics["wa"] == pytest.approx(0.43)
        assert (metrics["ua_ci95_low"], metrics["ua_ci95_high"]) == pytest.approx((0.35, 0.47))
        assert metrics["params"] == 24 and metrics["per_class.ANG"] == 0.5
        assert "head" not in metrics and "seeds_low" not in metrics
        assert record["final"]["head"] == "quantum" and record["final"]["seeds"] == [0, 1]

    def test_history_confusion_split_predictions_model(self, store, tmp_path, tracking_config):
        record = load_run(finished_run(tracking_config, tmp_path))
        history = record["history"]
        assert list(history.columns[:2]) == ["prefix", "epoch"]
        first = history[history["prefix"] == ""]
        assert first["epoch"].tolist() == [0, 1, 2, 3]
        assert first["train_loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
        assert first["val_ua"].tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
        fold1 = history[history["prefix"] == "fold1/seed0/"]
        assert len(fold1) == 4 and fold1["train_loss"].eq(2.0).all() and fold1["train_acc"].isna().all()
        assert fold1["val_ua"].isna().all()  # NaN (no validation set) is stored as NaN
        assert record["confusion"]["labels"][0] == "ANG"
        np.testing.assert_array_equal(record["confusion"]["matrix"], np.eye(6, dtype=int) * 3)
        assert record["split"]["test"] == ["1004"]
        assert record["predictions"]["y_pred"] == {"0": [0, 2]}
        assert {"config.toml", "model", "confusion.json", "predictions.json"} <= set(record["artifacts"])
        assert load_json(record["run_id"], "model/weights.json") == {}
        assert load_json(record["run_id"], "missing.json") is None


class TestEndedBadly:
    @pytest.mark.parametrize(("error", "status", "qser_status"), [
        (ValueError("bad value"), "FAILED", "failed"),
        (TrainingCancelled("stopped by the user"), "KILLED", "interrupted"),
        (KeyboardInterrupt(), "KILLED", "interrupted"),
    ])
    def test_marked_with_reason_and_no_final_metrics(self, store, tracking_config, error, status, qser_status):
        with pytest.raises(type(error)):
            with track_run(tracking_config, run_type="train") as recorder:
                recorder.log_epoch({"epoch": 0, "train_loss": 1.2, "val_ua": 0.2})
                recorder.log_final({"ua": 0.9, "wa": 0.9})
                raise error
        record = load_run(recorder.run_id)
        assert record["status"] == status and record["qser_status"] == qser_status
        assert record["reason"].startswith(type(error).__name__)
        assert "ua" not in record["metrics"] and "wa" not in record["metrics"]
        assert record["history"]["train_loss"].tolist() == [1.2]  # curves so far are kept
        assert record["final"] is None
        row = list_runs().iloc[0]
        assert row["status"] == status and np.isnan(row["ua"]) and row["reason"] == record["reason"]

    def test_exception_passes_through_unchanged(self, store, tracking_config):
        error = RuntimeError("the original")
        with pytest.raises(RuntimeError) as caught:
            with track_run(tracking_config, run_type="evaluate"):
                raise error
        assert caught.value is error



class TestDisabled:
    def test_disabled_recorder_writes_nothing(self, store, tracking_config):
        with track_run(tracking_config, run_type="train", enabled=False) as recorder:
            recorder.log_epoch({"epoch": 0, "train_loss": 1.0})
            recorder.log_final({"ua": 0.5})
            recorder.log_json("x", {"a": 1})
        assert recorder.run_id is None
        assert list_runs().empty


class TestInputs:
    def test_unknown_run_type(self, tracking_config):
        with pytest.raises(ConfigError, match="run_type must be one of evaluate, train, hybrid, hardware, compare, sweep; got 'fit'"):
            track_run(tracking_config, run_type="fit")

    def test_bad_confusion_matrix(self, tracking_config):
        with track_run(tracking_config, run_type="train", enabled=False) as recorder:
            with pytest.raises(DataError, match=r"square with one row per label \(6 labels\); got shape \(2, 3\)"):
                recorder.log_confusion(np.zeros((2, 3)), list("ABCDEF"))

    def test_epoch_log_needs_epoch(self, tracking_config):
        with track_run(tracking_config, run_type="train", enabled=False) as recorder:
            with pytest.raises(DataError, match="needs an integer 'epoch' field; got fields"):
                recorder.log_epoch({"train_loss": 1.0})
            with pytest.raises(TypeError, match="EpochLog dataclass or a dict; got a list"):
                recorder.log_epoch([0, 1.0])

    def test_bad_metric_name(self, tracking_config):
        with track_run(tracking_config, run_type="train", enabled=False) as recorder:
            with pytest.raises(DataError, match="metric name 'ua!' is not allowed"):
                recorder.log_final({"ua!": 0.5})

    def test_logging_after_the_run_ended(self, store, tracking_config):
        with track_run(tracking_config, run_type="train") as recorder:
            pass
        with pytest.raises(RuntimeError, match="is not open; log inside `with track_run"):
            recorder.log_final({"ua": 0.5})


class TestStoreFailures:
    def test_final_write_failure_keeps_results_locally(self, store, tracking_config, caplog):
        # A run deleted while open refuses writes: a real store error, no mock needed.
        from qser_core.tracking.unsaved import import_unsaved

        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.5, "wa": 0.25})
            delete_run(recorder.run_id)
            recorder.log_epoch({"epoch": 0, "train_loss": 1.0})  # warns, training goes on
            recorder.log_json("predictions", {"y_pred": [1, 2]})
        assert "could not log epoch 0" in caplog.text
        assert recorder.unsaved is not None and (recorder.unsaved / "run.json").is_file()
        assert f"qser runs import {recorder.unsaved}" in caplog.text
        new_id = import_unsaved(recorder.unsaved)
        assert new_id != recorder.run_id  # the original was deleted: a new run holds the results
        record = load_run(new_id)
        assert record["metrics"]["ua"] == 0.5 and record["metrics"]["wa"] == 0.25
        assert record["predictions"] == {"y_pred": [1, 2]} and record["config"] == tracking_config
        assert record["qser_status"] == "finished" and record["status"] == "FINISHED"
        assert record["history"]["train_loss"].tolist() == [1.0]


class TestReopen:
    def test_results_added_after_the_block(self, store, tracking_config):
        from qser_core.tracking.recorder import reopen_run

        with track_run(tracking_config, run_type="hardware") as recorder:
            recorder.set_outcome("submitted", reason="job queued")
        assert load_run(recorder.run_id)["qser_status"] == "submitted"
        with reopen_run(recorder.run_id[:8]) as again:
            assert again.run_id == recorder.run_id and again.config == tracking_config
            again.log_json("counts", {"0101": 7})
            again.log_final({"ua": 0.31})
        record = load_run(recorder.run_id)
        assert record["qser_status"] == "finished" and record["metrics"]["ua"] == pytest.approx(0.31)
        assert record["final"] == {"ua": 0.31} and "counts.json" in record["artifacts"]

    def test_error_inside_reopen_keeps_the_status(self, store, tracking_config):
        from qser_core.tracking.recorder import reopen_run

        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.4})
        with pytest.raises(ValueError):
            with reopen_run(recorder.run_id):
                raise ValueError("job lost")
        record = load_run(recorder.run_id)
        assert record["qser_status"] == "finished" and record["tags"]["qser.reopen_error"] == "ValueError: job lost"

    def test_unknown_run(self, store):
        from qser_core.tracking.recorder import reopen_run

        with pytest.raises(DataError, match="no run with id 'ffffffff'"):
            with reopen_run("ffffffff"):
                pass

    def test_child_runs(self, store, tracking_config):
        with track_run(tracking_config, run_type="compare") as parent:
            with track_run(tracking_config, run_type="evaluate", parent_run_id=parent.run_id[:6]) as child:
                pass
        assert load_run(parent.run_id)["children"] == [child.run_id]
        assert list_runs().set_index("run_id").loc[child.run_id, "parent_run_id"] == parent.run_id


class TestOutcome:
    def test_stopped_early_stopped_finished_are_distinct(self, store, tracking_config):
        ids = {}
        for status in ("finished", "early-stopped", "stopped"):
            with track_run(tracking_config, run_type="train") as recorder:
                recorder.log_final({"ua": 0.5})
                recorder.set_outcome(status, epochs_run=17, best_epoch=12)
            ids[status] = recorder.run_id
        runs = list_runs().set_index("run_id")
        for status, run_id in ids.items():
            assert runs.loc[run_id, "qser_status"] == status
            assert runs.loc[run_id, "epochs_run"] == 17 and runs.loc[run_id, "best_epoch"] == 12
        assert runs.loc[ids["stopped"], "status"] == "KILLED" and runs.loc[ids["finished"], "status"] == "FINISHED"

    def test_outcome_read_from_final_metrics(self, store, tracking_config):
        with track_run(tracking_config, run_type="hybrid") as recorder:
            recorder.log_final({"ua": 0.3, "cancelled": True, "epochs": 17, "best_epoch": 9})
        record = load_run(recorder.run_id)
        assert record["qser_status"] == "stopped" and "stopped by the user" in record["reason"]
        assert record["metrics"]["epochs_run"] == 17 and record["metrics"]["best_epoch"] == 9

    def test_unknown_outcome(self, tracking_config):
        with track_run(tracking_config, run_type="train", enabled=False) as recorder:
            with pytest.raises(ConfigError, match="status must be one of finished, early-stopped, stopped, "
                                                  "submitted; got 'done'"):
                recorder.set_outcome("done")


_CHILD = """
import sys, time
from qser_core.cli import _handle_termination
from qser_core.config import QserConfig
from qser_core.tracking.recorder import track_run

_handle_termination()
with track_run(QserConfig(), run_type="evaluate") as recorder:
    recorder.log_epoch({"epoch": 0, "train_loss": 1.0})
    print(recorder.run_id, flush=True)
    time.sleep(600)
"""


class TestSignals:
    def _start(self, tmp_path):
        import os
        import subprocess
        import sys

        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.Popen([sys.executable, "-c", _CHILD], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        return proc, run_id

    def test_sigterm_marks_the_run_interrupted(self, store, tmp_path):
        import signal

        proc, run_id = self._start(tmp_path)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
        record = load_run(run_id)
        assert record["status"] == "KILLED" and record["qser_status"] == "interrupted"
        assert record["reason"] == "Terminated: received SIGTERM"

    def test_run_of_a_killed_process_shows_as_gone(self, store, tmp_path):
        import signal

        from qser_core.tracking.reader import GONE

        proc, run_id = self._start(tmp_path)
        proc.send_signal(signal.SIGKILL)  # no handler can run: the run stays RUNNING in the store
        proc.wait(timeout=300)
        row = list_runs().set_index("run_id").loc[run_id]
        assert row["status"] == "RUNNING" and row["qser_status"] == GONE
        assert f"process {proc.pid}" in row["reason"] and "ended without closing the run" in row["reason"]


class TestOutcomeFromHistory:
    @pytest.mark.parametrize(("flags", "status"), [({}, "finished"), ({"stopped_early": True}, "early-stopped"),
                                                    ({"cancelled": True}, "stopped")])
    def test_history_sets_the_outcome(self, store, tracking_config, flags, status):
        from qser_core.heads.training import EpochLog, History

        history = History(epochs=[EpochLog(e, 1.0, 0.2, 1.0, 0.2, 0.2, 0.1) for e in range(1, 18)], best_epoch=12,
                          **flags)
        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.4})
            recorder.set_outcome_from(history, epochs=200)
        row = list_runs().iloc[0]
        assert row["qser_status"] == status and row["epochs_run"] == 17 and row["best_epoch"] == 12
        if status == "stopped":
            assert row["reason"] == "stopped by the user after 17 of 200 epochs; best epoch 12 kept"

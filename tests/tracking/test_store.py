"""Tests of qser_core.tracking.store: creating, checking and opening real MLflow stores.

Faults are real: garbage and truncated database files, a lock held by another sqlite connection,
a port nobody listens on, and several `qser` processes started at once on a fresh store.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qser_core.errors import BackendError
from qser_core.tracking import store
from qser_core.tracking.reader import list_runs, load_run
from qser_core.tracking.recorder import track_run

REPO = Path(__file__).resolve().parents[2]


def _qser_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, "QSER_HOME": str(home), "PYTHONPATH": str(REPO)}


def _qser(*args: str, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qser_core.cli", *args], env=_qser_env(home), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def fresh_uri(tmp_path, monkeypatch):
    """A store URI of its own (never opened before in this process)."""
    db = tmp_path / "runs" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    yield db
    store.reset_clients()


class TestCreation:
    @pytest.mark.slow
    def test_several_commands_at_once_on_a_fresh_store(self, tmp_path):
        home = tmp_path / "home"
        procs = [_qser("runs", home=home) for _ in range(4)]
        results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
        for code, out, err in results:
            assert code == 0, err
            assert "Traceback" not in err and "no runs recorded yet" in out
        assert not list(home.glob("_alembic_tmp_*"))
        proc = _qser("runs", "--json", home=home)  # the store is usable afterwards
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and out.strip() == '{"runs": []}', err


class TestFailFast:
    def test_not_an_sqlite_file(self, fresh_uri):
        fresh_uri.parent.mkdir(parents=True)
        fresh_uri.write_bytes(b"this is not a database\n" * 100)
        with pytest.raises(BackendError, match=r"is not an SQLite database .*mv .*mlflow.db .*mlflow.db.broken"):
            list_runs()

    def test_truncated_store(self, fresh_uri, tracking_config):
        with track_run(tracking_config, run_type="train") as recorder:
            recorder.log_final({"ua": 0.5})
        store.reset_clients()
        data = fresh_uri.read_bytes()
        fresh_uri.write_bytes(data[: len(data) // 2])
        with pytest.raises(BackendError, match=r"run store .*mlflow.db (is damaged|.*corrupt)"):
            list_runs()

    def test_locked_store(self, fresh_uri, tracking_config, monkeypatch):
        with track_run(tracking_config, run_type="train"):
            pass
        store.reset_clients()
        monkeypatch.setattr(store, "LOCK_WAIT_S", 0.2)
        holder = sqlite3.connect(fresh_uri, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(BackendError, match="is locked by another process"):
                list_runs()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert len(list_runs()) == 1  # usable again once the lock is gone

    def test_unreachable_server(self, monkeypatch):
        with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        with pytest.raises(BackendError, match=rf"cannot reach the MLflow tracking store http://127.0.0.1:{port} "
                                               r".*unset it to use the local store"):
            list_runs()

    def test_cli_names_the_damaged_store_without_traceback(self, tmp_path):
        home = tmp_path / "home"
        home.mkdir()
        (home / "mlflow.db").write_bytes(b"\x00garbage" * 64)
        proc = _qser("runs", home=home)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 1 and out == ""
        assert f"the run store {home / 'mlflow.db'} is not an SQLite database" in err and "Traceback" not in err


class TestArtifacts:
    def test_artifacts_follow_a_moved_qser_home(self, tmp_path, monkeypatch, tracking_config):
        from qser_core.tracking.recorder import reopen_run

        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        old, new = tmp_path / "old-home", tmp_path / "new-home"
        monkeypatch.setenv("QSER_HOME", str(old))
        with track_run(tracking_config, run_type="evaluate") as recorder:
            recorder.log_json("predictions", {"clips": ["a.wav"], "y_true": [0], "y_pred": {"0": [0]}})
        store.reset_clients()
        old.rename(new)
        monkeypatch.setenv("QSER_HOME", str(new))
        record = load_run(recorder.run_id)
        assert record["predictions"]["clips"] == ["a.wav"] and record["config"] == tracking_config
        with reopen_run(recorder.run_id) as again:
            again.log_json("late", {"ok": True})
        assert any((new / "mlartifacts").rglob("late.json")) and not old.exists()
        assert "late.json" in load_run(recorder.run_id)["artifacts"]
        store.reset_clients()

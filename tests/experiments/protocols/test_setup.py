"""Tests of qser_core.experiments.protocols.setup: the one set-up of the single, cross-validation and hybrid runs."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.config import QserConfig
from qser_core.errors import BackendError, DataError
from qser_core.experiments.protocols.setup import protocol_run
from qser_core.progress import Event, RunContext


@pytest.fixture
def damaged_home(tmp_path, monkeypatch):
    """A fresh QSER_HOME whose run store is not a database (what a disk fault leaves)."""
    from qser_core.tracking import store

    home = tmp_path / "home"
    home.mkdir()
    (home / "mlflow.db").write_bytes(b"\x00garbage" * 64)
    monkeypatch.setenv("QSER_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store.reset_clients()
    yield home
    store.reset_clients()


def _run(protocol: str):
    if protocol == "train":
        from qser_core.experiments.protocols.single import train_model as run
    elif protocol == "evaluate":
        from qser_core.experiments.protocols.crossval import evaluate as run
    else:
        from qser_core.experiments.protocols.hybrid import train_hybrid as run
    return run


class TestFailFast:
    @pytest.mark.parametrize("protocol", ["train", "evaluate", "hybrid"])
    def test_a_damaged_store_stops_every_protocol_before_any_work(self, damaged_home, protocol):
        # the hybrid run skipped this check once; now all three open the store before the corpus
        with pytest.raises(BackendError, match="is not an SQLite database"):
            _run(protocol)(QserConfig(), context=RunContext(track=True))
        assert not (damaged_home / "demo").exists() and not (damaged_home / "embeddings").exists()  # no corpus

    def test_untracked_runs_do_not_open_the_store(self, damaged_home):
        with protocol_run(QserConfig(), RunContext(track=False), run_type="train", prepare_features=False) as run:
            assert run.recorder.run_id is None and run.features is None


class TestRun:
    def test_epochs_are_logged_and_passed_on(self, store):
        from qser_core.tracking.reader import load_run

        seen = []
        context = RunContext(on_event=seen.append).child(fold=1, seed=0)
        with protocol_run(QserConfig(), context, run_type="evaluate", prepare_features=False,
                          epoch_prefix=lambda e: f"fold{e.fold}/seed{e.seed}/") as run:
            for epoch in (1, 2):
                run.context.emit(Event("epoch", payload={"epoch": epoch, "train_loss": 1.0 / epoch}))
            run.context.emit(Event("stage", stage="hybrid"))  # not an epoch: passed on, not logged
            run.recorder.log_final({"ua": 0.5})
        history = load_run(run.recorder.run_id)["history"]
        assert history["prefix"].tolist() == ["fold1/seed0/"] * 2
        assert np.allclose(history["train_loss"], [1.0, 0.5])
        assert [(e.kind, e.fold) for e in seen] == [("epoch", 1), ("epoch", 1), ("stage", 1)]

    def test_a_plan_that_fails_opens_no_run(self, store, small_features):
        from qser_core.tracking.reader import list_runs

        def too_few_speakers(features):
            raise DataError("too few speakers")

        with pytest.raises(DataError, match="too few speakers"):
            with protocol_run(QserConfig(), RunContext(), run_type="train", features=small_features,
                              plan=too_few_speakers):
                pass  # pragma: no cover - never entered
        assert list_runs().empty

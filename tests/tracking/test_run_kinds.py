"""One store holding every kind of run a user makes, read by `qser runs`, `runs --json`, `runs show`, the pickers and
the Compare page (issue 19, Broken 2 and 3).

The training runs are real: ``compare_heads`` with the DEFAULT settings (tuning search included) on the demo corpus,
stopped by a cancel token while the quantum head's second candidate trains, as the Train page's Stop does; a
finished quantum run; a cross-validated logistic regression; a sweep's parent run (the sweep store's own function).
The hybrid and hardware records are written through the recorder with the run types and metric names those
modules use (their training costs minutes; tests/experiments/protocols/test_hybrid.py and tests/hardware/ run them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from qser_core.config import QserConfig
from factories import TWO_VALUE_INTERVALS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, TWO_VALUE_INTERVALS]

TINY = ["reduce.n_qubits=4", "head.n_layers=1", "train.epochs=2", "data.n_folds=2", "train.tune=false"]


def _stop_in_second_candidate(token):
    """``on_event`` that presses Stop after epoch 2 of the quantum head's candidate 2 (what a user did, 26 s in)."""
    def on_event(event):
        trial = event.payload
        if event.kind == "trial" and event.head == "quantum" and trial.candidate == 2 \
                and trial.epoch_log is not None and trial.epoch_log.epoch == 2:
            token.cancel()
    return on_event


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory):
    """Record logreg, MLP, quantum (finished and stopped), cross-validation, hybrid, sweep and hardware runs."""
    from qser_core.experiments.protocols.compare import compare_heads
    from qser_core.experiments.pipeline import prepare
    from qser_core.experiments.sweeps.store import parent_run
    from qser_core.progress import CancelToken, RunContext
    from qser_core.tracking.recorder import track_run

    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path_factory.mktemp('mixed') / 'runs.db'}",
           "MLFLOW_EXPERIMENT_NAME": f"mixed-{uuid.uuid4().hex[:8]}"}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    token = CancelToken()
    stopped = compare_heads(QserConfig(), ["logreg", "mlp", "quantum"], protocol="single",
                            context=RunContext(cancel=token, on_event=_stop_in_second_candidate(token)))
    tiny = QserConfig().with_overrides(TINY)
    features = prepare(tiny)
    finished = compare_heads(tiny, ["quantum"], protocol="single", features=features)
    compare_heads(tiny, ["logreg"], protocol="crossval", features=features)
    with track_run(tiny, run_type="hybrid") as recorder:
        recorder.log_final({"ua": 0.3, "wa": 0.31, "macro_f1": 0.29, "frozen": {"ua": 0.28}, "gain": {"ua": 0.02},
                            "trainable_blocks": 1, "cancelled": False})
    with parent_run(f"grid-{uuid.uuid4().hex[:6]}", tiny, {"train.lr": [0.01, 0.05], "head.n_layers": [1, 2]}):
        pass
    with track_run(tiny, run_type="hardware", tags={"qser.hardware": "curve-noise"}) as recorder:
        recorder.log_final({"curve.ideal.ua": 0.3})  # a noise curve: no headline UA
    with track_run(tiny, run_type="hardware", tags={"qser.hardware": "run"}) as recorder:
        recorder.log_final({"ua": 0.27, "wa": 0.3, "macro_f1": 0.25, "ideal.ua": 0.3})
    yield {"env": env, "stopped": stopped, "finished": finished}
    mp.undo()


def qser(env: dict, *args: str) -> subprocess.CompletedProcess:
    """``qser ARGS`` as a user runs it (a new process on the store)."""
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "qser_core.cli", *args], capture_output=True, text=True, env=full,
                          cwd=ROOT, timeout=300)


class TestStopInsideTheSearch:
    def test_the_stopped_head_is_recorded_as_stopped_with_candidate_and_epoch(self, mixed_store):
        from qser_core.tracking.reader import list_runs

        comparison = mixed_store["stopped"]
        assert comparison.cancelled and list(comparison.results) == ["logreg", "mlp", "quantum"]
        quantum = comparison.results["quantum"]
        assert quantum.metrics["cancelled"] and quantum.head.tuning_.stopped["candidate"] == 2
        runs = list_runs().set_index("run_id")
        row = runs.loc[quantum.run_id]
        assert row["qser_status"] == "stopped" and row["status"] == "KILLED"
        assert "candidate 2 / 4" in row["reason"] and "at epoch 2" in row["reason"]
        assert set(runs.loc[[comparison.results[k].run_id for k in ("logreg", "mlp")], "qser_status"]) <= {
            "finished", "early-stopped"}

    def test_a_stopped_comparison_gets_no_paired_test(self, mixed_store):
        comparison = mixed_store["stopped"]
        assert comparison.paired == {} and "stopped" in comparison.paired_note
        assert mixed_store["finished"].paired == {}  # one head: nothing to pair, and no note
        assert comparison.summary()["paired_note"] == comparison.paired_note

    def test_runs_show_says_stopped(self, mixed_store):
        run_id = mixed_store["stopped"].results["quantum"].run_id
        shown = qser(mixed_store["env"], "runs", "show", run_id[:8])
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
        assert "KILLED, stopped" in shown.stdout and "candidate 2 / 4" in shown.stdout

    def test_pickers_leave_stopped_runs_out_unless_asked(self, mixed_store):
        from app_support.catalogue import eligible_models, recorded_models, stopped_models

        stopped = mixed_store["stopped"].results["quantum"].run_id
        finished = mixed_store["finished"].results["quantum"].run_id
        quantum, _ = eligible_models("quantum")  # the Hardware page's list (its first entry is its default)
        assert stopped not in quantum and next(iter(quantum)) == finished
        assert stopped not in recorded_models()  # the Live demo's
        assert stopped_models() == 1
        included = recorded_models(include_stopped=True)
        assert included[stopped].startswith("STOPPED") and stopped in eligible_models("quantum",
                                                                                      include_stopped=True)[0]


class TestRunsCommand:
    def test_table_lists_every_kind(self, mixed_store):
        out = qser(mixed_store["env"], "runs")
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        for run_type in ("train", "evaluate", "hybrid", "sweep", "hardware"):
            assert run_type in out.stdout
        assert "stopped" in out.stdout

    def test_json_lists_every_run(self, mixed_store):
        out = qser(mixed_store["env"], "runs", "--json")
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        runs = json.loads(out.stdout)["runs"]
        assert len(runs) == 9
        logreg = [r for r in runs if r["head"] == "logreg"]
        assert logreg and all(r["n_layers"] is None for r in logreg)

    def test_show_every_run(self, mixed_store):
        ids = [r["run_id"] for r in json.loads(qser(mixed_store["env"], "runs", "--json").stdout)["runs"]]
        for run_id in ids:
            out = qser(mixed_store["env"], "runs", "show", run_id)
            assert out.returncode == 0 and "Traceback" not in out.stderr, (run_id, out.stderr)


class TestComparePage:
    @pytest.fixture(autouse=True)
    def _navigation_app(self, monkeypatch):
        """The AppTest work-around of tests/app/conftest.py (keep ``st.navigation`` in charge after the first run)."""
        from streamlit.runtime.pages_manager import PagesManager

        original = PagesManager.__init__

        def init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            PagesManager.uses_pages_directory = False

        monkeypatch.setattr(PagesManager, "__init__", init)

    def _open(self, mixed_store):
        sys.path.insert(0, str(ROOT / "tests" / "app"))
        from app_harness import open_page

        from app_support import cache

        cache.runs.clear()  # the page's cached list (5 s) may hold another store's runs
        return open_page("pages/compare.py")

    def test_every_kind_renders_and_finished_only_keeps_comparable_runs(self, mixed_store):
        at = self._open(mixed_store)
        assert not at.exception, [e.value for e in at.exception]
        table = at.dataframe[0].value
        assert set(table["run_type"]) == {"train", "evaluate", "hybrid", "hardware"}  # no sweep parent, no curve
        assert "stopped" not in set(table["qser_status"])
        assert (table["ua"] != "").all()
        at.toggle(key="compare.finished").set_value(False).run()
        assert not at.exception, [e.value for e in at.exception]
        table = at.dataframe[0].value
        assert len(table) == 9 and "STOPPED" in set(table["qser_status"])
        sweep = table[table["run_type"] == "sweep"].iloc[0]
        assert "train.lr" in sweep["grid"] and sweep["head"] == ""  # its grid, not the global config

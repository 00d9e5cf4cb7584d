"""Sweeps on a real local Ray (2 CPUs) over the demo corpus: grid expansion, records, resume, cancel, failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError
from qser_core.experiments.sweeps.runner import drain, expand_grid, load_sweep, parse_grid, read_sweep_toml, run_sweep, sweep_name
from qser_core.progress import CancelToken, RunContext
from factories import TWO_VALUE_INTERVALS, UNTRACKED

pytestmark = TWO_VALUE_INTERVALS


BASE = ["train.epochs=3", "train.patience=2", "data.n_folds=2", "reduce.n_qubits=4", "head.n_layers=1",
        "head.ansatz=basic"]
GRID = {"head.kind": ["logreg", "mlp-matched", "quantum"]}


@pytest.fixture(scope="module")
def base() -> QserConfig:
    return QserConfig().with_overrides(BASE)


@pytest.fixture(scope="module")
def first(local_ray, base):
    """The small sweep (3 configurations × 2 folds × 1 seed = 6 Ray tasks), run once."""
    return run_sweep(base, GRID, name="small")


def _children(parent_id: str) -> list:
    from qser_core.experiments.sweeps.store import _search

    return _search(f"tags.`mlflow.parentRunId` = '{parent_id}'")


def _cell(kind, k, ua=None, *, params=None, vs=None, status="finished"):
    """A sweep entry as ``run_sweep`` fills it (a failed one has no UA)."""
    scores = {} if ua is None else {"ua": ua, "ua_ci95": [ua - 0.05, ua + 0.05]}
    return {"settings": {"head.kind": kind, "reduce.n_qubits": k}, "head": kind, "n_qubits": k, "n_layers": 2,
            "status": status, **scores, "params": params, "vs_matched": vs, "run_id": None, "error": ""}


class TestMarkdown:
    def test_two_axes_pivot_in_grid_order(self):
        from qser_core.experiments.sweeps.runner import SweepResult

        cells = [_cell("quantum", 8, 0.5, params=100, vs={"delta_ua": -0.02, "p_value": 0.31}),
                 _cell("quantum", 2, 0.3, params=30), _cell("logreg", 8, 0.55, params=54),
                 _cell("logreg", 2, status="failed")]
        text = SweepResult("s", None, "finished", cells, axes=["head.kind", "reduce.n_qubits"]).markdown()
        lines = text.splitlines()
        assert lines[0] == "| reduce.n_qubits \\ head.kind | quantum | logreg |"
        assert lines[1] == "| --- | --- | --- |"
        assert lines[2] == ("| 8 | 0.500 [0.450, 0.550], 100 params; -0.020 vs matched MLP (p = 0.31) | "
                            "0.550 [0.500, 0.600], 54 params |")
        assert lines[3] == "| 2 | 0.300 [0.250, 0.350], 30 params | failed |"

    def test_one_axis_lists_cells(self):
        from qser_core.experiments.sweeps.runner import SweepResult

        cells = [{**_cell("logreg", 4, 0.4), "settings": {"head.kind": "logreg"}}]
        text = SweepResult("s", None, "finished", cells, axes=["head.kind"]).markdown()
        assert text.splitlines() == ["| head.kind | UA [95% interval] |", "| --- | --- |",
                                     "| logreg | 0.400 [0.350, 0.450] |"]


class TestGrid:
    def test_parse_grid(self):
        assert parse_grid(["head.kind=logreg, quantum", "reduce.n_qubits=2,4"]) == {
            "head.kind": ["logreg", "quantum"], "reduce.n_qubits": ["2", "4"]}

    @pytest.mark.parametrize("item", ["head.kind", "kind=logreg", "head.kind=", "head.kind=,"])
    def test_malformed_axis(self, item):
        with pytest.raises(ConfigError, match="section.field=v1,v2"):
            parse_grid([item])

    def test_axis_given_twice(self):
        with pytest.raises(ConfigError, match="given twice"):
            parse_grid(["head.kind=logreg", "head.kind=quantum"])

    @pytest.mark.parametrize("item, message", [
        ("reduce.n_qubits=4,4", r"lists 4 more than once \(reduce.n_qubits=4,4\); give each value once: "
                                r"reduce.n_qubits=4$"),
        ("reduce.n_qubits=2,,4", r"has an empty value \(reduce.n_qubits=2,,4\); remove the extra comma"),
        ("head.kind=logreg,quantum,", "has an empty value"),
    ])
    def test_repeated_or_empty_value_is_refused(self, item, message):
        with pytest.raises(ConfigError, match=message):
            parse_grid([item])

    def test_repeated_value_from_a_toml_file_is_refused(self, base):
        with pytest.raises(ConfigError, match="lists 2 more than once"):
            expand_grid(base, {"reduce.n_qubits": [2, 4, 2]})

    def test_expansion_is_the_product_last_axis_fastest(self, base):
        cells = expand_grid(base, {"reduce.n_qubits": ["2", "4"], "head.n_layers": [1, 2, 3]})
        assert [(c.settings["reduce.n_qubits"], c.settings["head.n_layers"]) for c in cells] == [
            (2, 1), (2, 2), (2, 3), (4, 1), (4, 2), (4, 3)]
        assert cells[4].config.reduce.n_qubits == 4 and cells[4].config.head.n_layers == 2
        assert len({c.digest for c in cells}) == 6

    def test_cells_that_train_the_same_model_share_a_digest(self, base):
        cells = expand_grid(base, {"head.kind": ["logreg", "mlp-matched", "quantum"], "head.n_layers": [1, 2]})
        digests = {(c.settings["head.kind"], c.settings["head.n_layers"]): c.digest for c in cells}
        assert digests[("logreg", 1)] == digests[("logreg", 2)]  # logistic regression has no layers
        assert digests[("mlp-matched", 1)] != digests[("mlp-matched", 2)]  # it matches the circuit's size
        assert digests[("quantum", 1)] != digests[("quantum", 2)]

    def test_bad_value_fails_before_anything_runs(self, base):
        with pytest.raises(ConfigError, match="reduce.n_qubits must be between 2 and 12; got 40"):
            expand_grid(base, {"reduce.n_qubits": ["4", "40"]})

    def test_unknown_field(self, base):
        with pytest.raises(ConfigError, match="unknown config field head.qubits"):
            expand_grid(base, {"head.qubits": ["4"]})

    def test_sweep_table_in_toml(self, tmp_path):
        path = tmp_path / "sweep.toml"
        path.write_text('[train]\nepochs = 7\n[sweep]\nname = "depth"\n[sweep.head]\nn_layers = [1, 2]\n'
                        'kind = "quantum"\n[sweep.reduce]\nn_qubits = [2, 4]\n')
        config, grid, name = read_sweep_toml(path)
        assert config.train.epochs == 7 and name == "depth"
        assert grid == {"head.n_layers": [1, 2], "head.kind": ["quantum"], "reduce.n_qubits": [2, 4]}
        assert len(expand_grid(config, grid)) == 4

    def test_toml_sweep_entry_must_be_a_table(self, tmp_path):
        path = tmp_path / "bad.toml"
        path.write_text("[sweep]\nhead = 3\n")
        with pytest.raises(ConfigError, match=r"must be a table such as \[sweep.head\]"):
            read_sweep_toml(path)

    def test_default_name_is_stable(self, base):
        assert sweep_name(base, GRID) == sweep_name(QserConfig().with_overrides(BASE), dict(GRID))
        assert sweep_name(base, GRID) != sweep_name(base, {"head.kind": ["logreg"]})


class TestSweep:
    def test_one_finished_child_run_per_configuration(self, first):
        assert first.status == "finished"
        assert first.tasks == {"total": 6, "run": 6, "skipped": 0, "failed": 0}
        assert [c["status"] for c in first.configurations] == ["finished"] * 3
        children = _children(first.run_id)
        assert len(children) == 3
        assert {r.info.run_id for r in children} == {c["run_id"] for c in first.configurations}
        assert {r.data.tags["qser.status"] for r in children} == {"finished"}

    def test_same_results_as_one_by_one(self, first, base):
        from qser_core.experiments.protocols.crossval import evaluate
        from qser_core.tracking.reader import load_json

        for entry in first.configurations:
            alone = evaluate(base.replace("head", kind=entry["head"]), context=UNTRACKED)
            assert alone.summary()["ua"] == entry["ua"]
            assert alone.summary()["params"] == entry["params"]
            assert alone.predictions_record() == load_json(entry["run_id"], "predictions.json")

    def test_interval_and_paired_test_against_matched_mlp(self, first):
        quantum = next(c for c in first.configurations if c["head"] == "quantum")
        low, high = quantum["ua_ci95"]
        assert low <= quantum["ua"] <= high
        assert quantum["vs_matched"]["difference"] == "quantum − other"
        assert 0.0 <= quantum["vs_matched"]["p_value"] <= 1.0

    def test_one_cell_paired_the_same_way_as_evaluate(self, first, base):
        """The sweep and ``qser evaluate --head mlp-matched,quantum`` give the same number with the same sign."""
        from qser_core.experiments.protocols.compare import compare_heads

        comparison = compare_heads(base, ["mlp-matched", "quantum"], protocol="crossval", context=UNTRACKED)
        evaluate_side = comparison.paired["mlp-matched"]
        sweep_side = next(c for c in first.configurations if c["head"] == "quantum")["vs_matched"]
        assert sweep_side["delta_ua"] == evaluate_side["bootstrap"]["diff"]
        assert sweep_side["p_value"] == evaluate_side["mcnemar"]["p_value"]
        assert sweep_side["difference"] == evaluate_side["difference"] == "quantum − other"

    def test_resumed_sweep_runs_nothing_twice(self, first, base):
        again = run_sweep(base, GRID, name="small")
        assert again.tasks == {"total": 6, "run": 0, "skipped": 6, "failed": 0}
        assert [c["run_id"] for c in again.configurations] == [c["run_id"] for c in first.configurations]
        assert all(c["reused"] for c in again.configurations)
        assert again.run_id == first.run_id and len(_children(first.run_id)) == 3

    def test_grown_grid_runs_only_new_cells(self, first, base):
        grown = run_sweep(base, {"head.kind": ["logreg", "quantum"], "head.n_layers": [1, 2]}, name="small")
        # logreg × 2 layers is one fit, already done; quantum layer 1 is done; quantum layer 2 is new
        assert grown.tasks["run"] == 2 and grown.tasks["skipped"] == 4
        assert len(_children(first.run_id)) == 4

    def test_show_reads_the_record_back(self, first):
        shown = load_sweep("small")
        assert [c["run_id"] for c in shown.configurations][:1] == [first.configurations[0]["run_id"]]
        assert shown.status == "finished"

    def test_unknown_sweep(self, local_ray):
        with pytest.raises(DataError, match="no sweep named 'nope'"):
            load_sweep("nope")

    def test_cancelled_sweep_keeps_what_finished(self, local_ray, base):
        token = CancelToken()

        def progress(done, total, message):
            if message.startswith("recorded"):
                token.cancel()  # as soon as one configuration is recorded

        grid = {"head.kind": ["logreg", "quantum"], "reduce.n_qubits": [2, 3]}
        stopped = run_sweep(base, grid, name="stopped", context=RunContext(progress=progress, cancel=token))
        statuses = [c["status"] for c in stopped.configurations]
        assert stopped.status == "interrupted" and "cancelled" in statuses and "finished" in statuses
        assert load_sweep("stopped").status == "interrupted"
        finished = {c["digest"] for c in stopped.configurations if c["status"] == "finished"}
        assert {r.data.tags["qser.config_digest"] for r in _children(stopped.run_id)} == finished
        resumed = run_sweep(base, grid, name="stopped")
        assert resumed.tasks["skipped"] == 2 * len(finished)
        assert resumed.tasks["run"] == 8 - 2 * len(finished)
        assert resumed.status == "finished" and len(_children(stopped.run_id)) == 4


class TestFailures:
    def test_a_failed_task_is_retried_once_then_reported(self, local_ray, tmp_path):
        from qser_core.experiments.sweeps.runner import _remote

        def flaky(marker: str, fail_times: int, value: int) -> int:
            """Fails the first ``fail_times`` calls (counted in a file: each attempt is a new call)."""
            from pathlib import Path

            path = Path(marker)
            calls = int(path.read_text()) if path.exists() else 0
            path.write_text(str(calls + 1))
            if calls < fail_times:
                raise ValueError(f"attempt {calls + 1} fails on purpose")
            return value

        task = _remote(flaky)  # a local function travels by value: workers cannot import test modules
        pending = {task.remote(str(tmp_path / "a"), 1, 10): "once", task.remote(str(tmp_path / "b"), 5, 20): "always",
                   task.remote(str(tmp_path / "c"), 0, 30): "never"}
        results, errors = {}, {}
        drain(pending, results.__setitem__, errors.__setitem__)
        assert results == {"once": 10, "never": 30}  # the first failure was retried
        assert list(errors) == ["always"] and "ValueError: attempt 2 fails on purpose" in errors["always"]
        assert (tmp_path / "b").read_text() == "2"  # one try plus exactly one retry


class TestCli:
    def test_json_has_one_entry_per_cell_and_show_matches(self, first, capsys):
        from qser_core.cli import main

        argv = ["sweep", "--name", "cli", "--json", "--grid", "head.kind=logreg,quantum",
                *(x for item in BASE for x in ("--set", item))]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert [c["settings"] for c in out["configurations"]] == [{"head.kind": "logreg"}, {"head.kind": "quantum"}]
        assert {"ua", "ua_ci95", "params", "status"} <= set(out["configurations"][1])
        assert main(["sweep", "show", "cli", "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["configurations"] == out["configurations"]
        assert np.isfinite(shown["configurations"][0]["ua"])

    def test_bad_grid_is_a_usage_error(self, local_ray, capsys):
        from qser_core.cli import main

        assert main(["sweep", "--grid", "reduce.n_qubits=99", "--json"]) == 2
        assert capsys.readouterr().out == ""


def _qser_process(*args: str, prelude: str = ""):
    """``qser ARGS`` in its own process on this session's store (the module's MLflow variables are inherited)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = f"import sys\n{prelude}\nfrom qser_core.cli import main\nsys.exit(main({list(args)!r}))"
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.Popen([sys.executable, "-c", code], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
class TestKilledDriver:
    def test_sigkill_leaves_an_interrupted_sweep_with_its_finished_cells(self, local_ray):
        import time

        from qser_core.experiments.sweeps.runner import list_sweeps
        from qser_core.tracking.reader import list_runs

        grid = ["--grid", "head.kind=logreg,mlp,quantum"]
        process = _qser_process("sweep", "--name", "killed", "--workers", "1", *grid,
                                *(x for item in BASE for x in ("--set", item)))
        start, shown = time.perf_counter(), None
        while process.poll() is None and time.perf_counter() - start < 300:
            time.sleep(0.5)
            try:
                shown = load_sweep("killed")
            except DataError:
                continue
            if any(c["status"] == "finished" for c in shown.configurations):
                break
        process.kill()  # SIGKILL: no time to write the sweep's end
        process.communicate(timeout=60)
        assert shown is not None and process.returncode == -9, "the sweep ended before one cell was recorded"
        after = load_sweep("killed")
        assert after.status == "interrupted" and "ended without closing it" in after.reason
        statuses = [c["status"] for c in after.configurations]
        assert "finished" in statuses and "pending" not in statuses and "cancelled" in statuses
        assert list_sweeps().set_index("name").loc["killed", "status"] == "interrupted"
        children = list_runs(filter_string=f"tags.`mlflow.parentRunId` = '{after.run_id}'")
        left_running = children[children["status"] == "RUNNING"]
        assert set(left_running["qser_status"]) <= {"gone"}  # a child caught mid-record is shown gone

    def test_sigterm_while_ray_starts_stops_with_qsers_message(self, local_ray):
        # SIGTERM 1 s into ray.init (the real one: this driver starts its own local Ray)
        prelude = ("import os, signal, threading, ray\n_init = ray.init\n"
                   "def init(*a, **k):\n"
                   "    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
                   "    return _init(*a, **k)\n"
                   "ray.init = init")
        process = _qser_process("sweep", "--name", "termed", "--workers", "1", "--grid", "head.kind=logreg",
                                *(x for item in BASE for x in ("--set", item)), prelude=prelude)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 143, err
        assert "qser: received SIGTERM" in err and "Traceback" not in err and "Fatal Python" not in err, err
        assert out == ""
        assert load_sweep("termed").status == "interrupted"

"""AppTest of the Sweeps page: a recorded sweep reopened and drawn, a sweep launched (in its own process) and watched."""

from __future__ import annotations

import time

import pytest

from app_harness import assert_clean, elements, open_page
from factories import TWO_VALUE_INTERVALS

pytestmark = TWO_VALUE_INTERVALS

GRID = {"head.kind": ["mlp-matched", "quantum"], "reduce.n_qubits": ["2", "4"]}


@pytest.fixture(scope="module")
def recorded(local_ray, demo_config):
    """A finished 4-cell sweep (2 heads × 2 qubit counts, 2 folds, 1 seed, 2 epochs)."""
    from qser_core.experiments.sweeps.runner import run_sweep

    config = demo_config.replace("head", ansatz="basic")
    return run_sweep(config, GRID, name="page")


class TestRecordedSweep:
    def test_table_charts_and_csv(self, recorded, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        assert_clean(at)
        at.selectbox(key="sweeps.picked").set_value("page")
        at.run()
        assert_clean(at)
        table = at.dataframe[0].value
        assert len(table) == 4 and set(table["status"]) == {"finished"}
        assert list(table["ua"]) == [c["ua"] for c in recorded.configurations]
        assert len(elements(at, "plotly_chart")) == 4  # UA vs qubits, heatmap, quantum − matched, params
        assert at.get("download_button")


class TestPlots:
    def _frame(self, uas, n_values):
        from qser_core.experiments.sweeps.runner import SweepResult

        cells = [{"settings": {"reduce.n_qubits": k}, "head": "quantum", "n_qubits": k, "n_layers": 1,
                  "status": "finished", "ua": ua, "ua_ci95": [ua - 0.05, ua + 0.05], "params": 10,
                  "n_values": n_values} for k, ua in zip((2, 4), uas)]
        return SweepResult("s", None, "finished", cells, axes=["reduce.n_qubits"]).frame()

    def test_small_difference_keeps_a_small_colour_difference(self):
        from app_support.sweep_plots import quantum_heatmap

        fig = quantum_heatmap(self._frame([0.400, 0.413], 6))
        low, high = fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax
        assert high - low == pytest.approx(0.10) and low < 0.400 and high > 0.413

    def test_no_interval_bands_behind_two_values(self):
        from app_support.sweep_plots import few_values, ua_vs_qubits

        assert few_values(self._frame([0.4, 0.5], 2)) == 2 and few_values(self._frame([0.4, 0.5], 3)) is None
        few = ua_vs_qubits(self._frame([0.4, 0.5], 2), ["reduce.n_qubits"])
        assert [t.fill for t in few.data] == [None] and "only 2 folds × seeds" in few.layout.title.text
        assert len(ua_vs_qubits(self._frame([0.4, 0.5], 3), ["reduce.n_qubits"]).data) == 2  # band and line


class TestStop:
    def test_snapshot_says_what_is_left(self):
        from app_support.sweep_job import SweepSnapshot
        from qser_core.experiments.sweeps.runner import SweepResult

        cells = [{"status": s} for s in ("finished", "pending", "pending")]
        result = SweepResult("s", "r", "running", cells)
        snap = SweepSnapshot("stopping", (6, 24, "tasks submitted"), result, "", seconds=60.0)
        assert snap.left() == "18 of 24 tasks left (2 configurations), ~3 min at the pace so far"
        assert SweepSnapshot("interrupted", (6, 24, ""), result, "").left() == ""


class TestLaunch:
    def test_grid_preview_counts_tasks(self, local_ray, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        assert "12 configurations × 2 folds × 1 seeds = 24 tasks (at most 2 epochs each" in " ".join(
            c.value for c in at.caption)
        assert at.number_input(key="sweeps.train.epochs").value == 2
        assert "Only 2 fold × seed values per configuration" in at.warning[0].value

    def test_epochs_set_by_the_grid_are_the_ones_shown(self, local_ray, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        at.multiselect(key="sweeps.axes").set_value(["head.kind", "train.epochs"])
        at.run()
        at.text_input(key="sweeps.v.train.epochs").set_value("20")
        at.run()
        assert "at most 20 epochs each" in " ".join(c.value for c in at.caption)

    def test_repeated_value_is_refused(self, local_ray, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        at.text_input(key="sweeps.v.reduce.n_qubits").set_value("2,4,4")
        at.run()
        assert "lists 4 more than once" in at.error[0].value and at.button(key="sweeps.start").disabled

    def test_bad_value_is_shown_not_raised(self, local_ray, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        at.text_input(key="sweeps.v.reduce.n_qubits").set_value("2,99")
        at.run()
        assert not at.exception
        assert "reduce.n_qubits must be between 2 and 12; got 99" in at.error[0].value
        assert at.button(key="sweeps.start").disabled

    def test_launch_and_watch(self, local_ray, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        at.multiselect(key="sweeps.axes").set_value(["head.kind"])
        at.run()
        at.text_input(key="sweeps.v.head.kind").set_value("logreg")
        at.text_input(key="sweeps.name").set_value("launched")
        at.run()
        at.button(key="sweeps.start").click()
        at.run()
        job = at.session_state["sweeps.job"]
        start = time.perf_counter()
        while job.alive and time.perf_counter() - start < 240:
            job.join(0.5)
        assert not job.alive
        at.run()
        assert_clean(at)
        snap = job.snapshot()
        assert snap.status == "finished" and len(snap.result.configurations) == 1, snap.error
        assert snap.progress[0] == snap.progress[1] and "{" not in snap.progress[2]  # no Python dict in the text
        assert at.session_state["sweeps.job"].name == "launched"
        assert "launched · finished" in at.selectbox(key="sweeps.picked").options

    def test_stop_interrupts_the_sweep_process(self, local_ray, demo_config):
        from app_support.sweep_job import SweepJob

        grid = {"head.kind": ["logreg", "quantum"], "reduce.n_qubits": ["2", "3", "4"]}
        job = SweepJob(demo_config.replace("head", ansatz="basic"), grid, name="page-stopped").start()
        start = time.perf_counter()
        while job.alive and time.perf_counter() - start < 240 and not job.snapshot().progress[2].startswith(
                "recorded"):
            job.join(0.2)
        job.stop()
        assert job.snapshot().status in ("stopping", "interrupted", "finished")
        job.join(240)
        snap = job.snapshot()
        assert not job.alive and snap.status == "interrupted", (snap.status, snap.error)
        statuses = {c["status"] for c in snap.result.configurations}
        assert "finished" in statuses and "cancelled" in statuses and snap.left() == ""

"""AppTest of the Sweeps page: a recorded sweep reopened and drawn, a sweep launched and watched."""

from __future__ import annotations

import time

import pytest

from app_harness import assert_clean, elements, open_page

GRID = {"head.kind": ["mlp-matched", "quantum"], "reduce.n_qubits": ["2", "4"]}


@pytest.fixture(scope="module")
def recorded(local_ray, demo_config):
    """A finished 4-cell sweep (2 heads × 2 qubit counts, 2 folds, 1 seed, 2 epochs)."""
    from qser_core.experiments.sweep import run_sweep

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


class TestLaunch:
    def test_grid_preview_counts_tasks(self, local_ray, demo_config):
        at = open_page("pages/sweeps.py", config=demo_config)
        assert "12 configurations × 2 folds × 1 seeds = 24 tasks" in " ".join(c.value for c in at.caption)

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
        assert snap.status == "finished" and len(snap.result.configurations) == 1
        assert "launched · finished" in at.selectbox(key="sweeps.picked").options

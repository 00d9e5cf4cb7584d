"""AppTest of the Compare runs page on runs recorded by qser_core.experiments.crossval.evaluate."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, elements, open_page
from qser_core.experiments.compare import compare_runs


@pytest.fixture(scope="module")
def two_runs(demo_config):
    from qser_core.experiments.crossval import evaluate
    from qser_core.experiments.pipeline import prepare

    features = prepare(demo_config)
    return [evaluate(demo_config.replace("head", kind=kind), features=features).run_id for kind in ("logreg", "mlp")]


class TestComparePage:
    def test_table_chart_and_paired_test(self, two_runs, demo_config):
        at = open_page("pages/compare.py", config=demo_config)
        assert_clean(at)
        assert set(two_runs) <= set(at.dataframe[0].value["run_id"])
        assert list(at.dataframe[0].value.columns[:3]) == ["ua", "wa", "macro_f1"]  # on screen without scrolling
        assert at.get("download_button")
        at.multiselect(key="compare.picked").set_value(two_runs)
        at.selectbox(key="compare.a").set_value(two_runs[0])
        at.selectbox(key="compare.b").set_value(two_runs[1])
        at.run()
        assert_clean(at)
        assert len(elements(at, "plotly_chart")) == 1
        labels = {m.label: m.value for m in at.metric}
        shared = compare_runs(*two_runs)  # the function `qser compare` calls
        assert labels["McNemar p"] == f"{shared['mcnemar']['p_value']:.3g}"
        assert int(labels["Clips compared"]) == shared["n_clips"] > 0
        assert labels["UA difference A − B"] == f"{shared['bootstrap']['diff']:+.3f}"

    def test_filters(self, two_runs, demo_config):
        at = open_page("pages/compare.py", config=demo_config)
        at.multiselect(key="compare.f.head").set_value(["mlp"])
        at.run()
        assert not at.exception
        assert set(at.dataframe[0].value["head"]) == {"mlp"}

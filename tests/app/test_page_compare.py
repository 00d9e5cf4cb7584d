"""AppTest of the Compare runs page on runs recorded by qser_core.experiments.protocols.crossval.evaluate."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, elements, open_page, texts
from qser_core.experiments.protocols.compare import compare_runs


@pytest.fixture(scope="module")
def two_runs(demo_config):
    from qser_core.experiments.protocols.crossval import evaluate
    from qser_core.experiments.pipeline import prepare

    from qser_core.experiments.metrics import IntervalWarning

    features = prepare(demo_config)
    with pytest.warns(IntervalWarning, match="only 2 values"):  # the app tests' 2 folds × 1 seed
        return [evaluate(demo_config.replace("head", kind=k), features=features).run_id for k in ("logreg", "mlp")]


@pytest.mark.filterwarnings("error::pandas.errors.Pandas4Warning")  # raised in the page, it would fail assert_clean
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

    def test_hide_then_delete(self, two_runs, demo_config):
        from qser_core.tracking.reader import list_runs
        from qser_core.tracking.recorder import track_run

        from app_support import cache

        with track_run(demo_config, run_type="evaluate") as spare:  # no model: never offered by a model picker
            spare.log_final({"ua": 0.2})
        cache.runs.clear()  # the list is cached for a few seconds across the process; this run is new
        at = open_page("pages/compare.py", config=demo_config)
        at.multiselect(key="compare.manage").set_value([two_runs[0]]).run()
        at.button(key="compare.hide").click().run()
        assert not at.exception
        assert two_runs[0] not in set(at.dataframe[0].value["run_id"]) and "1 run hidden" in texts(at)
        assert two_runs[0] in set(list_runs()["run_id"])  # hidden on the page, kept in the store
        at.button(key="compare.unhide").click().run()
        assert two_runs[0] in set(at.dataframe[0].value["run_id"])
        at.multiselect(key="compare.manage").set_value([spare.run_id]).run()
        assert at.button(key="compare.delete").disabled  # nothing deleted without the confirmation
        at.checkbox(key="compare.confirm").check().run()
        at.button(key="compare.delete").click().run()
        assert not at.exception
        assert spare.run_id not in set(list_runs()["run_id"]) and spare.run_id not in set(at.dataframe[0].value["run_id"])

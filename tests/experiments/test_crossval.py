"""End-to-end tests of qser_core.experiments.crossval on the demo corpus and on real speech (EmoDB)."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS
from qser_core.errors import DataError
from qser_core.experiments.compare import compare_predictions
from qser_core.experiments.crossval import evaluate


class TestPrepare:
    def test_demo_corpus_features_are_row_aligned(self, demo_fast_features):
        n = len(demo_fast_features.table)
        assert n >= 12 * 12 * 6
        assert demo_fast_features.embeddings.shape[0] == n == len(demo_fast_features.labels)
        assert np.isfinite(demo_fast_features.embeddings).all()
        assert set(np.unique(demo_fast_features.labels)) == set(range(len(EMOTIONS)))


class TestEvaluate:
    @pytest.mark.parametrize("kind", ["logreg", "mlp-matched", "quantum"])
    def test_cross_validation_summary(self, demo_fast_config, demo_fast_features, kind):
        config = demo_fast_config.replace("head", kind=kind)
        summary = evaluate(config, features=demo_fast_features, track=False).summary()
        assert summary["folds"] == 3 and summary["seeds"] == [0]
        assert summary["n_clips"] == len(demo_fast_features.table)
        assert summary["n_speakers"] == demo_fast_features.table["speaker"].nunique()
        low, high = summary["ua_ci95"]
        assert low <= summary["ua"] <= high
        # Six emotions: chance UA is 1/6. Eight PCA angles of the demo corpus carry ~35% UA (54% with all dims).
        assert summary["ua"] > 0.22, summary
        assert summary["params"] > 0

    def test_same_config_same_metrics(self, demo_fast_config, demo_fast_features):
        config = demo_fast_config.replace("head", kind="quantum")
        a = evaluate(config, features=demo_fast_features, track=False).summary()
        b = evaluate(config, features=demo_fast_features, track=False).summary()
        assert a["ua"] == b["ua"] and a["confusion"] == b["confusion"]

    def test_paired_comparison_on_the_same_clips(self, demo_fast_config, demo_fast_features):
        a = evaluate(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, track=False)
        b = evaluate(demo_fast_config.replace("head", kind="quantum"), features=demo_fast_features, track=False)
        result = compare_predictions(a.predictions_record(), b.predictions_record())
        assert result["n_clips"] == len(demo_fast_features.table)
        assert 0.0 <= result["mcnemar"]["p_value"] <= 1.0
        other = evaluate(demo_fast_config.replace("data", split_seed=5).replace("head", kind="logreg"),
                         features=demo_fast_features, track=False)
        with pytest.raises(DataError, match="different folds"):
            compare_predictions(a.predictions_record(), other.predictions_record())

    def test_tracked_run_is_recorded(self, demo_fast_config, demo_fast_features):
        from qser_core.tracking.reader import list_runs, load_run

        evaluation = evaluate(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, track=True)
        assert evaluation.run_id
        runs = list_runs()
        assert evaluation.run_id in set(runs["run_id"])
        record = load_run(evaluation.run_id)
        assert record["metrics"]["ua"] == pytest.approx(evaluation.summary()["ua"])


@pytest.mark.slow
def test_real_speech_end_to_end(emodb_audio):
    """EmoDB (real German speech, 10 speakers): the pipeline runs and beats chance clearly."""
    config = QserConfig().with_overrides(
        ["data.dataset=emodb", f"data.data_dir={emodb_audio}", "data.n_folds=5", "head.kind=logreg",
         "reduce.n_qubits=8", "train.epochs=40"]
    )
    summary = evaluate(config, track=False).summary()
    assert summary["n_clips"] == 454 and summary["n_speakers"] == 10
    assert summary["ua"] > 0.35, summary


class TestPcaView:
    def test_fitted_on_training_speakers_only(self, demo_fast_config, demo_fast_features):
        from qser_core.experiments.pipeline import pca_view
        from qser_core.features.reduce import QubitReducer

        view = pca_view(demo_fast_features, demo_fast_config)
        k = demo_fast_config.reduce.n_qubits
        assert view["ratio"].shape == (k,) and np.all(np.diff(view["cumulative"]) >= 0)
        assert view["scores"].shape == (len(demo_fast_features.table), 3)
        train = np.array(view["part"]) == "train"
        assert view["n_train"] == train.sum() > 0 and {"val", "test"} <= set(view["part"])
        speakers = np.array(view["speaker"])
        assert not set(speakers[train]) & set(speakers[~train])
        refit = QubitReducer(n_components=k).fit(demo_fast_features.embeddings[train])
        assert np.allclose(refit.explained_variance_ratio_, view["ratio"])

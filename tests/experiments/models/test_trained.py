"""Tests of qser_core.experiments.models.trained (the saved artefact) as qser_core.experiments.protocols.single trains it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qser_core.data.corpus import EMOTIONS
from qser_core.errors import DataError
from qser_core.experiments.models.trained import load_model, predict_timed
from qser_core.experiments.protocols.single import train_model
from factories import UNTRACKED, TRACKED


class TestTrainedModel:
    def test_train_save_load_predict(self, demo_fast_config, demo_fast_features, tmp_path):
        model = train_model(demo_fast_config.replace("head", kind="quantum"), features=demo_fast_features, context=UNTRACKED)
        assert {"ua", "wa", "macro_f1", "confusion", "params"} <= set(model.metrics)
        assert not set(model.split_speakers["train"]) & set(model.split_speakers["test"])
        folder = model.save(tmp_path / "model")
        loaded = load_model(folder)
        clip = demo_fast_features.table["path"].iloc[0]
        proba = loaded.predict_proba(clip)
        assert list(proba) == list(EMOTIONS)
        assert sum(proba.values()) == pytest.approx(1.0, abs=1e-5)
        assert proba == pytest.approx(model.predict_proba(clip), abs=1e-6)  # the saved reducer is one affine map: same angles up to float rounding
        assert json.loads((folder / "metrics.json").read_text())["metrics"]["ua"] == model.metrics["ua"]

    def test_load_from_an_empty_folder_says_what_to_do(self, tmp_path):
        with pytest.raises(DataError, match="qser train --out"):
            load_model(tmp_path)

    def test_tracked_training_records_curves_predictions_and_the_model(self, demo_fast_config, demo_fast_features):
        from qser_core.tracking.reader import load_run
        from qser_core.experiments.protocols.compare import compare_predictions

        model = train_model(demo_fast_config.replace("head", kind="mlp"), features=demo_fast_features, context=TRACKED)
        record = load_run(model.run_id)
        assert len(record["history"]) == len(model.history)
        assert record["predictions"]["clips"] == model.predictions["clips"]
        assert record["metrics"]["ua"] == pytest.approx(model.metrics["ua"])
        other = train_model(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, context=UNTRACKED)
        paired = compare_predictions(record["predictions"], other.predictions)
        assert paired["n_clips"] == model.metrics["n_test"]

    def test_saved_model_artefact_is_loadable(self, demo_fast_config, demo_fast_features, tmp_path):
        import mlflow

        from qser_core.tracking.recorder import tracking_uri

        model = train_model(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, context=TRACKED)
        mlflow.set_tracking_uri(tracking_uri())
        folder = mlflow.artifacts.download_artifacts(run_id=model.run_id, artifact_path="model", dst_path=str(tmp_path))
        clip = demo_fast_features.table["path"].iloc[3]
        assert load_model(folder).predict_proba(clip) == pytest.approx(model.predict_proba(clip), abs=1e-6)


class TestPredictTimed:
    def test_heads_share_one_embedding_and_match_single_predictions(self, demo_fast_config, demo_fast_features):
        models = {kind: train_model(demo_fast_config.replace("head", kind=kind), features=demo_fast_features, context=UNTRACKED)
                  for kind in ("logreg", "quantum")}
        clip = demo_fast_features.table["path"].iloc[7]
        probabilities, seconds = predict_timed(models, clip)
        assert set(seconds) == {"embed", "logreg", "quantum"}
        for kind, model in models.items():
            assert probabilities[kind] == pytest.approx(model.predict_proba(clip))
        assert all(np.isfinite(list(seconds.values())))

    def test_models_with_different_backbones_are_refused(self, demo_fast_config, demo_fast_features):
        a = train_model(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, context=UNTRACKED)
        b = type(a)(config=a.config.replace("embedding", backbone="random-cnn"), reducer=a.reducer, head=a.head)
        with pytest.raises(DataError, match="another backbone"):
            predict_timed({"a": a, "b": b}, demo_fast_features.table["path"].iloc[0])

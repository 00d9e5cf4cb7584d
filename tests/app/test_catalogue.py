"""Models to predict with: recorded runs' models, zipped model folders, confusion matrices as CSV."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from qser_core.errors import DataError
from app_support.catalogue import (confusion_csv, eligible_models, load_recorded_model, model_label,
                                             recorded_models, zip_model)
from factories import UNTRACKED, TRACKED


@pytest.fixture(scope="module")
def quick_config(demo_fast_config):
    return demo_fast_config.with_overrides(["head.kind=logreg", "train.epochs=3"])


class TestRecorded:
    def test_a_recorded_training_run_gives_back_its_model(self, store, quick_config, demo_fast_features):
        from qser_core.experiments.protocols.single import train_model

        model = train_model(quick_config, features=demo_fast_features, context=TRACKED)
        listed = recorded_models()
        assert list(listed) == [model.run_id]
        assert listed[model.run_id].startswith("logreg · 8 qubits · efficientnet-lite0 · UA ")
        loaded = load_recorded_model(model.run_id)
        X = demo_fast_features.embeddings[:5]
        assert np.allclose(loaded.head.predict_proba(loaded.reducer.transform(X)),
                           model.head.predict_proba(model.reducer.transform(X)))

    def test_eligible_models_keep_one_head_and_count_the_others(self, store, quick_config, demo_fast_features):
        from qser_core.experiments.protocols.single import train_model

        train_model(quick_config, features=demo_fast_features, context=TRACKED)
        quantum = train_model(quick_config.with_overrides(["head.kind=quantum", "train.epochs=1"]),
                              features=demo_fast_features, context=TRACKED)
        eligible, others = eligible_models("quantum")
        assert list(eligible) == [quantum.run_id] and others == 1
        assert eligible[quantum.run_id].startswith("quantum · 8 qubits")
        assert eligible_models("mlp") == ({}, 2)

    def test_a_run_without_a_model_is_a_message(self, store, quick_config):
        from qser_core.tracking.recorder import track_run

        with track_run(quick_config, run_type="train") as recorder:
            run_id = recorder.run_id
        with pytest.raises(DataError, match=f"run {run_id} stored no model"):
            load_recorded_model(run_id)

    def test_label_without_a_score(self):
        assert "no UA" in model_label({"head": "quantum", "n_qubits": 4, "ua": float("nan"), "run_id": "abcdef123"})


class TestDownloads:
    def test_zip_holds_the_saved_folder(self, quick_config, demo_fast_features, tmp_path):
        from qser_core.experiments.models.trained import load_model
        from qser_core.experiments.protocols.single import train_model

        model = train_model(quick_config, features=demo_fast_features, context=UNTRACKED)
        with zipfile.ZipFile(io.BytesIO(zip_model(model))) as archive:
            assert "model/config.toml" in archive.namelist()
            archive.extractall(tmp_path)
        loaded = load_model(tmp_path / "model")
        X = demo_fast_features.embeddings[:5]
        assert np.allclose(loaded.head.predict_proba(loaded.reducer.transform(X)),
                           model.head.predict_proba(model.reducer.transform(X)))

    def test_confusion_csv_rows_are_true_columns_predicted(self):
        text = confusion_csv([[3, 1], [0, 4]], ["ANG", "SAD"])
        assert text.splitlines() == ["true \\ predicted,ANG,SAD", "ANG,3,1", "SAD,0,4"]

    def test_confusion_of_the_wrong_shape_is_a_message(self):
        with pytest.raises(DataError, match=r"must be 2 × 2 .*got shape \(3,\)"):
            confusion_csv([1, 2, 3], ["ANG", "SAD"])

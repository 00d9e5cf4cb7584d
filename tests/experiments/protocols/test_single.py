"""Tests of qser_core.experiments.protocols.single: one head on the single speaker-disjoint split."""

from __future__ import annotations

import numpy as np

from qser_core.experiments.pipeline import single_split, split_speakers
from qser_core.experiments.protocols.single import train_model
from factories import UNTRACKED


class TestTrainingRowsOnly:
    def test_reducer_sees_neither_validation_nor_test_rows(self, small_config, small_features, perturb, same_reducer):
        config = small_config.replace("head", kind="logreg")
        split = single_split(config, small_features)
        clean = train_model(config, features=small_features, context=UNTRACKED)
        held_out = perturb(small_features, np.concatenate([split.val, split.test]))
        assert same_reducer(train_model(config, features=held_out, context=UNTRACKED).reducer, clean.reducer)
        # the control: the same noise on a few training rows does move the scaler and PCA
        moved = train_model(config, features=perturb(small_features, split.train[:6]), context=UNTRACKED)
        assert not same_reducer(moved.reducer, clean.reducer)


class TestTrainModel:
    def test_scored_on_the_test_speakers_of_the_config_split(self, small_config, small_features):
        config = small_config.replace("head", kind="mlp")
        model = train_model(config, features=small_features, context=UNTRACKED)
        split = single_split(config, small_features)
        assert model.split_speakers == split_speakers(small_features, split)
        assert model.metrics["n_test"] == len(split.test) == len(model.predictions["clips"])
        assert list(model.predictions["y_pred"]) == ["0"]  # the first seed only
        summary = model.summary()
        assert summary["head"] == "mlp" and summary["ua"] == model.metrics["ua"] and summary["seed"] == 0

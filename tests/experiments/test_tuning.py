"""Tests of qser_core.experiments.tuning: the same search budget for every head, chosen on validation rows only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qser_core.config import HEAD_KINDS, QserConfig
from qser_core.data.splits import Split
from qser_core.experiments.pipeline import FeatureSet, fit_on_split
from qser_core.experiments.tuning import TRIALS, fit_tuned, search_space
from qser_core.progress import RunContext


def _config(kind, *overrides):
    return QserConfig().with_overrides([f"head.kind={kind}", "reduce.n_qubits=4", "train.epochs=15",
                                        "train.patience=5", *overrides])


def _angles(n=150, d=4, seed=0, noise=0.4):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 6
    centres = rng.uniform(0.5, 2.5, (6, d))
    return np.clip(centres[y] + rng.normal(0, noise, (n, d)), 0, np.pi), y


class TestBudget:
    @pytest.mark.parametrize("kind", HEAD_KINDS)
    def test_every_head_gets_the_same_number_of_candidates(self, kind):
        space = search_space(_config(kind, "head.n_layers=4"))
        assert len(space) == TRIALS and len({json.dumps(c, sort_keys=True) for c in space}) == TRIALS

    def test_only_learning_rate_and_capacity_or_penalty_are_searched(self):
        fields = {kind: {k for c in search_space(_config(kind, "head.n_layers=4")) for k in c} for kind in HEAD_KINDS}
        assert fields == {"logreg": {"train.weight_decay"}, "mlp": {"train.lr", "train.weight_decay"},
                          "mlp-matched": {"train.lr", "train.weight_decay"}, "quantum": {"train.lr", "head.n_layers"}}
        # the learning rates every gradient-trained head tries are the same
        rates = {kind: sorted({c["train.lr"] for c in search_space(_config(kind))}) for kind in ("mlp", "quantum")}
        assert rates["mlp"] == rates["quantum"]

    def test_quantum_depth_never_exceeds_the_configured_one(self):
        for layers in range(1, 9):
            depths = {c["head.n_layers"] for c in search_space(_config("quantum", f"head.n_layers={layers}"))}
            assert max(depths) == layers and min(depths) >= 1

    def test_tuning_off_is_one_trial_with_the_config_values(self):
        assert search_space(_config("mlp", "train.tune=false")) == [{}]
        X, y = _angles()
        head, tuning = fit_tuned(_config("mlp", "train.tune=false", "train.lr=0.02"), X, y, X_val=X, y_val=y)
        assert head.lr == 0.02 and tuning.chosen == {} and len(tuning.trials) == 1


class TestChoice:
    @pytest.mark.parametrize("kind", ["logreg", "mlp"])
    def test_keeps_the_best_trial_on_validation_rows(self, kind):
        X, y = _angles(seed=0)
        X_val, y_val = _angles(n=60, seed=1)
        logs = []
        epochs = RunContext(on_event=lambda e: logs.append(e.payload) if e.kind == "epoch" else None)
        head, tuning = fit_tuned(_config(kind), X, y, X_val=X_val, y_val=y_val, context=epochs)
        best = max(tuning.trials, key=lambda t: t.val_ua)
        assert tuning.chosen == best.overrides == tuning.trials[[t.val_ua for t in tuning.trials].index(best.val_ua)].overrides
        assert head.history_.best_score == pytest.approx(best.val_ua)
        for key, value in tuning.chosen.items():
            assert head.get_params()[key.split(".")[1]] == value
        assert logs == head.history_.epochs  # the chosen trial's curve, replayed once
        json.dumps(tuning.as_dict())  # recordable as is

    def test_the_choice_follows_the_validation_labels(self):
        X, y = _angles(noise=1.2)
        X_val, y_val = _angles(n=60, seed=1, noise=1.2)
        choices = {json.dumps(fit_tuned(_config("logreg"), X, y, X_val=X_val, y_val=labels)[1].chosen)
                   for labels in (y_val, np.roll(y_val, 1), np.roll(y_val, 2), np.roll(y_val, 3))}
        assert len(choices) > 1

    def test_without_validation_rows_nothing_is_chosen(self):
        X, y = _angles()
        head, tuning = fit_tuned(_config("logreg"), X, y)
        assert tuning.chosen == {} and len(tuning.trials) == 1 and np.isnan(tuning.trials[0].val_ua)


class TestPipelineHook:
    def _features(self):
        rng = np.random.default_rng(0)
        y = np.arange(180) % 6
        X = rng.standard_normal((180, 30)) + 1.5 * np.eye(6)[y] @ rng.standard_normal((6, 30))
        return FeatureSet(corpus=None, embeddings=X, labels=y)

    @pytest.mark.parametrize("method", ["pca", "pls"])
    def test_search_and_reducer_never_see_test_rows(self, method):
        features = self._features()
        split = Split(train=np.arange(0, 120), val=np.arange(120, 150), test=np.arange(150, 180))
        config = _config("mlp", f"reduce.method={method}")
        reducer, head = fit_on_split(config, features, split, seed=0)
        changed = FeatureSet(corpus=None, embeddings=features.embeddings.copy(), labels=features.labels.copy())
        changed.embeddings[split.test] *= -5.0
        changed.labels[split.test] = (changed.labels[split.test] + 3) % 6
        reducer2, head2 = fit_on_split(config, changed, split, seed=0)
        assert head.tuning_ == head2.tuning_
        probe = features.embeddings[:20]
        np.testing.assert_array_equal(reducer.transform(probe), reducer2.transform(probe))
        np.testing.assert_array_equal(head.predict_proba(reducer.transform(probe)),
                                      head2.predict_proba(reducer2.transform(probe)))


class TestLiveSearch:
    """The search reports itself as it runs and a Stop inside it is kept as a stop (issue 19, Broken 2 and 4)."""

    def test_every_candidate_and_epoch_is_reported_live(self):
        X, y = _angles()
        X_val, y_val = _angles(n=60, seed=1)
        events, logs = [], []

        def on_event(event):
            if event.kind == "epoch":
                logs.append(("replay", event.payload))
            else:
                logs.append(("live", event.payload))
                events.append(event.payload)

        head, tuning = fit_tuned(_config("quantum", "head.n_layers=2", "train.epochs=3"), X, y, X_val=X_val,
                                 y_val=y_val, context=RunContext(on_event=on_event))
        assert [e.candidate for e in events if e.epoch_log is None] == [1, 2, 3, 4]
        assert {e.n_candidates for e in events} == {TRIALS}
        # each candidate's epochs arrive live, before any replay, with its own settings
        first_replay = next(i for i, (kind, _) in enumerate(logs) if kind == "replay")
        live = [e for kind, e in logs[:first_replay] if kind == "live" and e.epoch_log is not None]
        assert len(live) == sum(t.epochs for t in tuning.trials)
        assert [e.overrides for e in events if e.epoch_log is None] == [t.overrides for t in tuning.trials]
        best = [e.best_val_ua for e in live]
        assert best == sorted(best) and best[-1] == pytest.approx(max(t.val_ua for t in tuning.trials))
        assert not tuning.cancelled and not head.history_.cancelled

    @pytest.mark.parametrize("epoch", [0, 2])
    def test_stop_inside_the_search_marks_the_head_stopped(self, epoch):
        from qser_core.progress import CancelToken

        X, y = _angles()
        X_val, y_val = _angles(n=60, seed=1)
        token = CancelToken()

        def on_event(event):  # Stop pressed while candidate 2 trains, after `epoch` of its epochs
            trial = event.payload
            if event.kind == "trial" and trial.candidate == 2 and (trial.epoch_log.epoch if trial.epoch_log else 0) == epoch:
                token.cancel()

        head, tuning = fit_tuned(_config("quantum", "head.n_layers=2", "train.epochs=4"), X, y, X_val=X_val,
                                 y_val=y_val, context=RunContext(cancel=token, on_event=on_event))
        assert tuning.cancelled and head.history_.cancelled  # recorded as stopped, never as finished
        assert tuning.stopped["candidate"] == 2 and tuning.stopped["of"] == TRIALS
        assert tuning.stopped["epoch"] == epoch and tuning.stopped["chosen_candidate"] in (1, 2)
        assert len(tuning.trials) == (2 if epoch else 1)
        assert "candidate 2 / 4" in tuning.stop_reason() and f"at epoch {epoch}" in tuning.stop_reason()
        json.dumps(tuning.as_dict())

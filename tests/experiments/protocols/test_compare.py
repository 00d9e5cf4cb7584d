"""Tests of qser_core.experiments.protocols.compare: several heads on identical inputs, and paired tests of recorded runs."""

from __future__ import annotations

import json

import pytest

from qser_core.errors import ConfigError, DataError
from qser_core.experiments.protocols.compare import PREDICTION_RUN_TYPES, compare_heads, compare_predictions, compare_runs
from qser_core.experiments.protocols.crossval import evaluate
from qser_core.experiments.metrics import IntervalWarning
from qser_core.experiments.protocols.single import train_model
from qser_core.progress import CancelToken, RunContext
from factories import UNTRACKED, TRACKED


class TestCompareHeads:
    @pytest.mark.slow  # every head's protocol run twice
    def test_each_head_matches_its_own_evaluation(self, small_config, small_features):
        comparison = compare_heads(small_config, ["logreg", "quantum"], features=small_features, context=UNTRACKED)
        alone = {kind: evaluate(small_config.replace("head", kind=kind), features=small_features, context=UNTRACKED)
                 for kind in ("logreg", "quantum")}
        for kind, evaluation in alone.items():
            assert comparison.results[kind].summary() == evaluation.summary()
        assert list(comparison.paired) == ["logreg"]  # every head against the quantum head
        assert comparison.paired["logreg"] == {  # quantum − other, the one sign
            **compare_predictions(alone["quantum"].predictions_record(), alone["logreg"].predictions_record()),
            "difference": "quantum − other"}
        summary = json.loads(json.dumps(comparison.summary()))
        assert summary["heads"] == ["logreg", "quantum"] and summary["protocol"] == "crossval"
        assert summary["results"]["quantum"]["folds"] == 3 and not summary["cancelled"]

    def test_single_split_matches_train_model(self, small_config, small_features):
        comparison = compare_heads(small_config, ["mlp", "quantum"], protocol="single", features=small_features,
                                   context=UNTRACKED)
        for kind in ("mlp", "quantum"):
            alone = train_model(small_config.replace("head", kind=kind), features=small_features, context=UNTRACKED)
            assert comparison.results[kind].metrics == alone.metrics
        assert comparison.paired["mlp"]["n_clips"] == comparison.results["quantum"].metrics["n_test"]

    def test_without_the_quantum_head_there_is_no_paired_test(self, small_config, small_features):
        comparison = compare_heads(small_config, ["logreg"], protocol="single", features=small_features, context=UNTRACKED)
        assert list(comparison.results) == ["logreg"] and comparison.paired == {}

    def test_cancelled_before_the_start_runs_nothing(self, small_config, small_features):
        token = CancelToken()
        token.cancel()
        comparison = compare_heads(small_config, ["logreg", "quantum"], features=small_features,
                                   context=RunContext(cancel=token, track=False))
        assert comparison.results == {} and comparison.cancelled

    def test_stopped_as_a_head_starts_keeps_the_heads_before(self, small_config, small_features):
        token = CancelToken()

        def progress(done, total, message):
            if message.startswith("quantum"):
                token.cancel()  # as the quantum head's first task starts, before any epoch of it

        comparison = compare_heads(small_config, ["logreg", "quantum"], features=small_features,
                                   context=RunContext(progress=progress, cancel=token, track=False))
        assert list(comparison.results) == ["logreg"] and comparison.cancelled and comparison.paired == {}
        assert len(comparison.results["logreg"].results) == 6  # the logreg head finished every task

    def test_stopped_inside_a_tuning_search_gets_no_paired_test(self, small_config, small_features):
        from qser_core.tracking.reader import load_run

        token = CancelToken()

        def on_event(event):  # Stop in the quantum head's second candidate of its first task
            if event.kind == "trial" and event.head == "quantum" and event.payload.candidate == 2 \
                    and event.payload.epoch_log is not None:
                token.cancel()

        config = small_config.with_overrides(["head.n_layers=2"])
        with pytest.warns(IntervalWarning, match="only 1 value"):  # stopped in its first task
            comparison = compare_heads(config, ["logreg", "quantum"], features=small_features,
                                       context=RunContext(cancel=token, on_event=on_event, track=True))
        assert comparison.cancelled and comparison.paired == {} and "no paired tests" in comparison.paired_note
        quantum = comparison.results["quantum"]
        assert [r.status for r in quantum.results] == ["stopped"]
        record = load_run(quantum.run_id)
        assert record["qser_status"] == "stopped"
        assert "fold 1, seed 0: candidate 2 / 4 of its tuning search, epoch 1" in record["reason"]

    @pytest.mark.parametrize("kinds, protocol, match", [
        ([], "crossval", r"heads must be distinct names .*; got \[\]"),
        (["logreg", "logreg"], "crossval", r"got \['logreg', 'logreg'\]"),
        (["svm"], "crossval", r"from logreg, mlp, mlp-matched, quantum; got \['svm'\]"),
        (["logreg"], "nested", r"protocol must be one of crossval, single; got 'nested'"),
    ])
    def test_bad_heads_or_protocol(self, small_config, small_features, kinds, protocol, match):
        with pytest.raises(ConfigError, match=match):
            compare_heads(small_config, kinds, protocol=protocol, features=small_features, context=UNTRACKED)


class TestCompareRuns:
    def test_recorded_runs_give_the_paired_test_of_the_comparison(self, small_config, small_features):
        comparison = compare_heads(small_config, ["logreg", "quantum"], features=small_features, context=TRACKED)
        run_a, run_b = (comparison.results[k].run_id for k in ("quantum", "logreg"))
        result = compare_runs(run_a, run_b)
        assert (result["run_a"], result["run_b"], result["metric"]) == (run_a, run_b, "ua")
        paired = {k: v for k, v in comparison.paired["logreg"].items() if k != "difference"}
        assert {k: result[k] for k in paired} == paired

    def test_a_run_without_predictions_is_refused(self, tracking_config):
        from qser_core.tracking.recorder import track_run

        with track_run(tracking_config, run_type="hybrid") as recorder:
            recorder.log_final({"ua": 0.5})
        assert "hybrid" not in PREDICTION_RUN_TYPES
        with pytest.raises(DataError, match=f"run {recorder.run_id} stored no per-clip predictions"):
            compare_runs(recorder.run_id, recorder.run_id)

    def test_unknown_metric(self):
        with pytest.raises(ConfigError, match=r"metric must be one of ua, wa, macro_f1; got 'f2'"):
            compare_runs("a", "b", metric="f2")

"""Tests of qser_core.experiments.protocols.crossval: fold tasks (plan, run anywhere, summarise) and evaluate, on the
demo corpus and on real speech (EmoDB)."""

from __future__ import annotations

import multiprocessing
import pickle
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS
from qser_core.errors import DataError
from qser_core.experiments.protocols.compare import compare_predictions
from qser_core.experiments.protocols.crossval import evaluate, plan_fold_tasks, run_fold_task, summarise
from qser_core.experiments.pipeline import fit_reducer
from qser_core.progress import CancelToken, RunContext
from factories import UNTRACKED, TRACKED


class TestPrepare:
    def test_demo_corpus_features_are_row_aligned(self, demo_fast_features):
        n = len(demo_fast_features.table)
        from qser_core.data.demo import demo_speakers

        assert n >= demo_speakers() * 12 * 6  # speakers × sentences × emotions
        assert demo_fast_features.embeddings.shape[0] == n == len(demo_fast_features.labels)
        assert np.isfinite(demo_fast_features.embeddings).all()
        assert set(np.unique(demo_fast_features.labels)) == set(range(len(EMOTIONS)))


class TestEvaluate:
    @pytest.mark.parametrize("kind", ["logreg", "mlp-matched", "quantum"])
    def test_cross_validation_summary(self, demo_fast_config, demo_fast_features, kind):
        config = demo_fast_config.replace("head", kind=kind)
        summary = evaluate(config, features=demo_fast_features, context=UNTRACKED).summary()
        assert summary["folds"] == 3 and summary["seeds"] == [0]
        assert summary["n_clips"] == len(demo_fast_features.table)
        assert summary["n_speakers"] == demo_fast_features.table["speaker"].nunique()
        low, high = summary["ua_ci95"]
        assert low <= summary["ua"] <= high
        # Six emotions: chance UA is 1/6. Eight PCA angles of the demo corpus carry ~35% UA (54% with all dims).
        assert summary["ua"] > 0.22, summary
        assert summary["params"] > 0
        if kind == "quantum":  # the circuit's size, keyed once with the prefix (not circuit_circuit_params)
            assert {"circuit_params", "circuit_depth", "circuit_two_qubit_gates"} <= set(summary)
            assert not any(key.startswith("circuit_circuit") for key in summary)

    def test_same_config_same_metrics(self, demo_fast_config, demo_fast_features):
        config = demo_fast_config.replace("head", kind="quantum")
        a = evaluate(config, features=demo_fast_features, context=UNTRACKED).summary()
        b = evaluate(config, features=demo_fast_features, context=UNTRACKED).summary()
        assert a["ua"] == b["ua"] and a["confusion"] == b["confusion"]

    # 3 folds of a tiny synthetic corpus: an interval near 0 or 1 may be clipped; what is tested here is the pairing
    @pytest.mark.filterwarnings("ignore:the t-interval left:qser_core.experiments.metrics.IntervalWarning")
    @pytest.mark.slow  # three cross-validations end to end
    def test_paired_comparison_on_the_same_clips(self, demo_fast_config, demo_fast_features):
        a = evaluate(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, context=UNTRACKED)
        b = evaluate(demo_fast_config.replace("head", kind="quantum"), features=demo_fast_features, context=UNTRACKED)
        result = compare_predictions(a.predictions_record(), b.predictions_record())
        assert result["n_clips"] == len(demo_fast_features.table)
        assert 0.0 <= result["mcnemar"]["p_value"] <= 1.0
        other = evaluate(demo_fast_config.replace("data", split_seed=5).replace("head", kind="logreg"),
                         features=demo_fast_features, context=UNTRACKED)
        with pytest.raises(DataError, match="different folds"):
            compare_predictions(a.predictions_record(), other.predictions_record())

    def test_tracked_run_is_recorded(self, demo_fast_config, demo_fast_features):
        from qser_core.tracking.reader import list_runs, load_run

        evaluation = evaluate(demo_fast_config.replace("head", kind="logreg"), features=demo_fast_features, context=TRACKED)
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
    summary = evaluate(config, context=UNTRACKED).summary()
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

    def test_angles_are_what_the_circuit_receives(self, demo_fast_config, demo_fast_features):
        from qser_core.experiments.pipeline import pca_view
        from qser_core.features.reduce import QubitReducer

        view = pca_view(demo_fast_features, demo_fast_config)
        train = np.array(view["part"]) == "train"
        refit = QubitReducer(n_components=demo_fast_config.reduce.n_qubits).fit(demo_fast_features.embeddings[train])
        assert np.allclose(view["angles"], refit.transform(demo_fast_features.embeddings))
        assert view["angles"].min() >= 0.0 and view["angles"].max() <= np.pi
        held_out = view["angles"][~train]
        assert view["clipped"] == np.mean((held_out == 0.0) | (held_out == np.pi))

# ------------------------------------------------------------------ fold tasks
class SetOnFirstEpoch:
    """``on_event`` for a worker process: cancels ``token`` (here a "started" signal) once an epoch ended."""

    def __init__(self, token: CancelToken) -> None:
        self.token = token

    def __call__(self, event) -> None:
        if event.kind == "epoch":
            self.token.cancel()


@pytest.fixture(scope="module")
def worker():
    """One spawned worker process: a fresh interpreter, like a Ray worker, that gets tasks by pickle."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


class TestFoldTasks:
    def test_plan_is_seed_major_folds_times_seeds(self, small_config, small_features):
        tasks = plan_fold_tasks(small_config, small_features)
        assert [(t.seed, t.fold) for t in tasks] == [(s, f) for s in (0, 1) for f in range(3)]
        tested = np.concatenate([t.split.test for t in tasks if t.seed == 0])
        assert np.array_equal(np.sort(tested), np.arange(len(small_features.labels)))

    def test_task_and_result_survive_pickle(self, small_config, small_features):
        task = plan_fold_tasks(small_config.replace("head", kind="logreg"), small_features)[1]
        copy = pickle.loads(pickle.dumps(task))
        assert (copy.fold, copy.seed, copy.config) == (task.fold, task.seed, task.config)
        assert np.array_equal(copy.split.test, task.split.test)
        result = run_fold_task(task, small_features)
        back = pickle.loads(pickle.dumps(result))
        assert back.metrics == result.metrics and np.array_equal(back.y_pred, result.y_pred)
        assert back.status in ("finished", "early-stopped") and 1 <= back.best_epoch <= back.epochs
        assert back.hyperparameters["kind"] == "logreg" and back.hyperparameters["n_params"] > 0

    def test_a_task_in_another_process_gives_the_same_result(self, small_config, small_features, worker):
        task = plan_fold_tasks(small_config.replace("head", kind="quantum"), small_features)[4]
        here = run_fold_task(task, small_features)
        there = worker.submit(run_fold_task, task, small_features).result(timeout=600)
        assert there.clips == here.clips and np.array_equal(there.y_pred, here.y_pred)
        assert there.metrics == here.metrics and (there.epochs, there.best_epoch) == (here.epochs, here.best_epoch)

    def test_cancel_token_stops_a_task_in_another_process(self, small_config, small_features, worker):
        # an MLP: trained epoch by epoch (logreg is one exact solve, nothing to stop)
        config = small_config.replace("head", kind="mlp").replace("train", epochs=10_000, patience=10_000, tune=False)
        task = plan_fold_tasks(config, small_features)[0]
        started, cancel = CancelToken(), CancelToken()
        context = RunContext(cancel=cancel, on_event=SetOnFirstEpoch(started))  # pickled into the worker
        future = worker.submit(run_fold_task, task, small_features, context=context)
        while not started.cancelled and not future.done():
            time.sleep(0.05)
        cancel.cancel()
        result = future.result(timeout=600)
        assert result.status == "stopped" and 1 <= result.epochs < 10_000

    def test_summarise_results_in_any_order(self, small_config, small_features):
        config = small_config.replace("head", kind="logreg")
        tasks = plan_fold_tasks(config, small_features)
        results = [run_fold_task(t, small_features) for t in tasks]
        forward, backward = summarise(config, results), summarise(config, results[::-1])
        assert forward.summary() == backward.summary()
        assert forward.summary() == evaluate(config, features=small_features, context=UNTRACKED).summary()
        assert summarise(config, results[:4], planned=len(tasks)).cancelled


class TestEvents:
    def test_every_event_says_which_task_it_belongs_to(self, small_config, small_features):
        events = []
        evaluation = evaluate(small_config.replace("head", kind="logreg"), features=small_features,
                              context=RunContext(track=False, on_event=events.append))
        tasks = [(r.fold, r.seed) for r in evaluation.results]
        folds = [e for e in events if e.kind == "fold"]
        assert [(e.fold, e.seed) for e in folds] == [(e.payload.fold, e.payload.seed) for e in folds] == tasks
        epochs = [e for e in events if e.kind == "epoch"]  # the chosen candidate's, one per task (one solve)
        assert [(e.head, e.fold, e.seed) for e in epochs] == [("logreg", *task) for task in tasks]
        assert {e.head for e in events} == {"logreg"} and any(e.kind == "trial" for e in events)


class TestCancel:
    def test_stopped_between_tasks_keeps_the_finished_ones(self, small_config, small_features):
        token = CancelToken()

        def progress(done, total, message):
            if done == 4:
                token.cancel()  # as the fifth task (seed 1, fold 2) starts, before any epoch of it

        evaluation = evaluate(small_config.replace("head", kind="logreg"), features=small_features,
                              context=RunContext(progress=progress, cancel=token, track=False))
        assert [(r.seed, r.fold) for r in evaluation.results] == [(0, 0), (0, 1), (0, 2), (1, 0)]
        assert evaluation.cancelled and evaluation.summary()["cancelled"]
        assert list(evaluation.predictions_record()["y_pred"]) == ["0"]  # seed 1 lacks folds: left out


class TestTrainingRowsOnly:
    def test_each_fold_reducer_sees_only_its_training_rows(self, small_config, small_features, perturb,
                                                          same_reducer):
        config = small_config.replace("head", kind="logreg")
        fold0 = plan_fold_tasks(config, small_features)[0].split
        clean, noisy = {}, {}
        evaluate(config, features=small_features, context=UNTRACKED, reducers=clean)
        evaluate(config, features=perturb(small_features, np.concatenate([fold0.val, fold0.test])), context=UNTRACKED,
                 reducers=noisy)
        assert same_reducer(clean[0], noisy[0])
        # the control: the other folds train on fold 0's test speakers, so their reducers move
        assert not any(same_reducer(clean[f], noisy[f]) for f in (1, 2))

    def test_a_task_fits_its_reducer_on_training_rows(self, small_config, small_features, perturb):
        task = plan_fold_tasks(small_config.replace("head", kind="logreg"), small_features)[2]
        noisy = perturb(small_features, task.split.test)
        own = run_fold_task(task, noisy)
        given = run_fold_task(task, noisy, reducer=fit_reducer(task.config, small_features, task.split))
        assert np.array_equal(own.y_pred, given.y_pred) and own.metrics == given.metrics

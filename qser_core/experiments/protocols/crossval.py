"""Speaker-disjoint cross-validation as fold tasks: plan (fold × seed), run one task, summarise.

``qser evaluate --head quantum --qubits 8 --folds 5 --seeds 3 --json`` ends here (through
:mod:`qser_core.experiments.protocols.compare` when several heads are asked for).

A :class:`FoldTask` and a :class:`FoldResult` are plain picklable values, so tasks can run in
worker processes (``concurrent.futures``, Ray) from the same :class:`~qser_core.experiments.pipeline.FeatureSet`
and cancel through a :class:`~qser_core.progress.CancelToken`; :func:`evaluate` runs them in turn.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

import numpy as np

from qser_core.config import QserConfig
from qser_core.data.corpus import EMOTIONS, Split
from qser_core.errors import TrainingCancelled
from qser_core.experiments.metrics import classification_metrics, mean_ci95
from qser_core.experiments.pipeline import (
    FeatureSet,
    cross_val_folds,
    fit_on_split,
    fit_reducer,
    predictions_record,
    split_speakers,
)
from qser_core.experiments.protocols.setup import protocol_run
from qser_core.progress import Event, RunContext

__all__ = ["FoldTask", "FoldResult", "Evaluation", "plan_fold_tasks", "run_fold_task", "summarise", "evaluate"]

STATUSES = ("finished", "early-stopped", "stopped")


@dataclass(frozen=True)
class FoldTask:
    """One head trained on one fold with one seed (picklable).

    Attributes
    ----------
    config : QserConfig
        The experiment (``head``, ``reduce`` and ``train`` sections are used by the task).
    fold : int
        Fold index, 0-based.
    seed : int
    split : Split
        The fold's speaker-disjoint row positions.
    """

    config: QserConfig
    fold: int
    seed: int
    split: Split


@dataclass(frozen=True)
class FoldResult:
    """What one :class:`FoldTask` gave (picklable, no fitted objects).

    Attributes
    ----------
    fold, seed : int
    head : str
        ``config.head.kind``.
    metrics : dict
        ``ua, wa, macro_f1, confusion`` on the fold's test speakers.
    clips : list of str
        Test clip ids (file names), row-aligned with ``y_true`` and ``y_pred``.
    y_true, y_pred : np.ndarray [shape=(n_test,)]
    epochs : int
        Epochs run.
    best_epoch : int
        The epoch whose weights were kept.
    status : {"finished", "early-stopped", "stopped"}
        ``stopped``: a cancel token ended the training (best weights so far scored).
    hyperparameters : dict
        Head and training settings the task used, and ``n_params``.
    seconds : float
    history : list of dict
        One :class:`~qser_core.heads.training.EpochLog` per epoch, as a dict.
    split_speakers : dict of str to list of str
    circuit : dict
        Depth, two-qubit gates and parameters of a quantum head's circuit (empty otherwise), measured
        where the task ran: a sweep's driver then never imports PennyLane (3 s of CPU taken from the
        workers on a 2-core machine).
    """

    fold: int
    seed: int
    head: str
    metrics: dict[str, Any]
    clips: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    epochs: int
    best_epoch: int
    status: str
    hyperparameters: dict[str, Any]
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    split_speakers: dict[str, list[str]] = field(default_factory=dict)
    circuit: dict[str, Any] = field(default_factory=dict)


def plan_fold_tasks(config: QserConfig, features: FeatureSet) -> list[FoldTask]:
    """The tasks of one cross-validation: ``config.data.n_folds`` folds × ``config.train.seeds``.

    Seed-major order: a run cancelled part way keeps whole seeds, each over every fold.
    """
    folds = cross_val_folds(config, features)
    return [FoldTask(config=config, fold=f, seed=int(s), split=split)
            for s in config.train.seeds for f, split in enumerate(folds)]


def run_fold_task(task: FoldTask, features: FeatureSet, *, context: RunContext | None = None,
                  reducer=None) -> FoldResult:
    """Fit the reducer (training rows only) and the head of one task; score the fold's test speakers.

    Parameters
    ----------
    task : FoldTask
    features : FeatureSet
        The inputs :func:`plan_fold_tasks` split.
    context : RunContext, optional
        ``epoch`` and ``trial`` events (:mod:`~qser_core.experiments.tuning`), then a ``fold`` event
        (payload: the :class:`FoldResult`), scoped with the task's head, fold and seed. Its cancel
        token stops between batches, and the best weights so far are scored (``status="stopped"``).
        A worker process receives it pickled (see :class:`~qser_core.progress.RunContext`).
    reducer : QubitReducer, optional
        Already fitted on this fold's training rows (it depends on neither the seed nor the head).

    Returns
    -------
    FoldResult

    Raises
    ------
    TrainingCancelled
        Cancelled before the first epoch finished.
    """
    config, split = task.config, task.split
    context = RunContext.of(context).child(head=config.head.kind, fold=task.fold, seed=task.seed)
    start = time.perf_counter()
    reducer, head = fit_on_split(config, features, split, seed=task.seed, context=context, reducer=reducer)
    y_true = features.labels[split.test]
    y_pred = np.asarray(head.predict(reducer.transform(features.embeddings[split.test])))
    history = head.history_
    status = "stopped" if history.cancelled else "early-stopped" if history.stopped_early else "finished"
    ids = features.clip_ids
    result = FoldResult(
        fold=task.fold, seed=task.seed, head=config.head.kind, metrics=classification_metrics(y_true, y_pred),
        clips=[ids[i] for i in split.test], y_true=y_true, y_pred=y_pred, epochs=len(history.epochs),
        best_epoch=int(history.best_epoch), status=status, hyperparameters=_hyperparameters(config, head),
        seconds=time.perf_counter() - start, history=[dataclasses.asdict(e) for e in history.epochs],
        split_speakers=split_speakers(features, split), circuit=_circuit_stats(config),
    )
    context.emit(Event("fold", payload=result))
    return result


def _hyperparameters(config: QserConfig, head) -> dict[str, Any]:
    t, used = config.train, head.get_params()  # the head's own values: what the tuning chose
    out = {**dataclasses.asdict(config.head), "n_qubits": config.reduce.n_qubits, "lr": used.get("lr", t.lr),
           "max_epochs": t.epochs, "batch_size": t.batch_size, "patience": t.patience,
           "weight_decay": used.get("weight_decay", t.weight_decay), "n_params": int(head.n_params_)}
    if "n_layers" in used:
        out["n_layers"] = used["n_layers"]
    tuning = getattr(head, "tuning_", None)
    if tuning is not None:
        out["tuning"] = tuning.as_dict()
    return out


@dataclass
class Evaluation:
    """Speaker-disjoint cross-validation of one head: the fold results of folds × seeds.

    Attributes
    ----------
    config : QserConfig
    results : list of FoldResult
    cancelled : bool
        A task was stopped, or tasks were left unrun.
    circuit : dict
        Depth, two-qubit gates and parameters of the quantum head's circuit (empty otherwise).
    run_id : str or None
        The MLflow run, when tracked.
    """

    config: QserConfig
    results: list[FoldResult]
    cancelled: bool = False
    circuit: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """Mean and 95% interval of UA, WA and macro-F1 over folds × seeds, plus what was compared."""
        out: dict[str, Any] = {"head": self.config.head.kind}
        for name in ("ua", "wa", "macro_f1"):
            mean, low, high = mean_ci95([r.metrics[name] for r in self.results])
            out[name], out[f"{name}_ci95"] = mean, [low, high]
        record = self.predictions_record()
        first_seed = next(iter(record["y_pred"].values()))
        parts = self.results[0].split_speakers
        out.update(
            n_clips=len(record["clips"]),
            n_speakers=len({s for part in parts.values() for s in part}),
            folds=len({r.fold for r in self.results}),
            seeds=sorted({r.seed for r in self.results}),
            params=int(self.results[0].hyperparameters["n_params"]),
            n_qubits=self.config.reduce.n_qubits,
            backbone=self.config.embedding.backbone,
            dataset=self.config.data.dataset,
            confusion=classification_metrics(record["y_true"], first_seed)["confusion"],
            cancelled=self.cancelled,
            run_id=self.run_id,
            tuning=_tuning_summary(self.results),
        )
        if self.config.head.kind == "quantum":
            out.update(ansatz=self.config.head.ansatz, encoding=self.config.head.encoding,
                       n_layers=self.config.head.n_layers, **{f"circuit_{k}": v for k, v in self.circuit.items()})
        return out

    def predictions_record(self) -> dict[str, Any]:
        """Test predictions of every fold, pooled per seed, keyed by clip (what run records store)."""
        seeds = sorted({r.seed for r in self.results})
        by_seed = {s: sorted((r for r in self.results if r.seed == s), key=lambda r: r.fold) for s in seeds}
        first = by_seed[seeds[0]]
        folds = [r.fold for r in first]
        preds = {s: np.concatenate([r.y_pred for r in rs]) for s, rs in by_seed.items()
                 if [r.fold for r in rs] == folds}  # a cancelled seed with fewer folds is left out
        return predictions_record([c for r in first for c in r.clips], np.concatenate([r.y_true for r in first]),
                                  preds, folds=np.concatenate([np.full(len(r.clips), r.fold) for r in first]))


def summarise(config: QserConfig, results: Sequence[FoldResult], *, planned: int | None = None) -> Evaluation:
    """The :class:`Evaluation` of fold results (from :func:`run_fold_task`, in any order or process).

    Parameters
    ----------
    config : QserConfig
    results : sequence of FoldResult
    planned : int, optional
        Tasks planned; fewer results mark the evaluation cancelled.

    Raises
    ------
    TrainingCancelled
        No result at all: nothing to summarise.
    """
    if not results:
        raise TrainingCancelled("evaluation was cancelled before any fold finished; nothing to report")
    results = sorted(results, key=lambda r: (r.seed, r.fold))
    cancelled = any(r.status == "stopped" for r in results) or (planned is not None and len(results) < planned)
    circuit = results[0].circuit if results[0].circuit else _circuit_stats(config)
    return Evaluation(config=config, results=results, cancelled=cancelled, circuit=circuit)


def evaluate(
    config: QserConfig,
    *,
    features: FeatureSet | None = None,
    context: RunContext | None = None,
    reducers: dict[int, Any] | None = None,
) -> Evaluation:
    """Cross-validate the head of ``config`` over speaker-disjoint folds and seeds, task by task.

    Parameters
    ----------
    config : QserConfig
        ``config.head.kind`` picks the head; ``config.data.n_folds`` and ``config.train.seeds`` the repeats.
    features : FeatureSet, optional
        Reuse prepared inputs.
    context : RunContext, optional
        ``progress`` over extraction and then over the tasks; ``epoch`` and ``trial`` events scoped
        with the head, fold and seed, and a ``fold`` event (payload: the :class:`FoldResult`) as each
        task ends; the cancel token stops between batches, tasks already finished are kept and the
        evaluation is marked cancelled. With ``track`` (the default) the run is recorded with MLflow
        (:mod:`qser_core.tracking.recorder`): every epoch as it ends, then the summary, confusion
        matrix, per-clip predictions, per-task results and speaker split.
    reducers : dict of int to QubitReducer, optional
        Reducers by fold, reused where present and filled in otherwise
        (:func:`~qser_core.experiments.protocols.compare.compare_heads` shares one dict across heads).

    Returns
    -------
    Evaluation
    """
    context = RunContext.of(context)
    reducers = {} if reducers is None else reducers
    kind, results = config.head.kind, []
    with protocol_run(config, context, run_type="evaluate", features=features, plan=partial(plan_fold_tasks, config),
                      epoch_prefix=lambda e: f"fold{e.fold}/seed{e.seed}/") as run:
        features, tasks = run.features, run.plan
        for i, task in enumerate(tasks):
            if context.cancelled:
                break
            context.report(i, len(tasks), f"{kind}: seed {task.seed}, fold {task.fold + 1}/{config.data.n_folds}")
            if task.fold not in reducers:
                reducers[task.fold] = fit_reducer(config, features, task.split)
            try:
                results.append(run_fold_task(task, features, context=run.context, reducer=reducers[task.fold]))
            except TrainingCancelled:
                break  # stopped before this task finished an epoch: summarise the tasks that did
        context.report(len(tasks), len(tasks), f"{kind}: done")
        evaluation = summarise(config, results, planned=len(tasks))
        evaluation.run_id = run.recorder.run_id
        run.recorder.log_corpus(features.corpus.report)
        _record(run.recorder, evaluation)
    return evaluation


def _circuit_stats(config: QserConfig) -> dict[str, Any]:
    if config.head.kind != "quantum":
        return {}
    from qser_core.heads.circuits import CircuitSpec

    stats = CircuitSpec.from_config(config).stats()
    # Keys without the "circuit_" prefix: the summary adds it (circuit_params, not circuit_circuit_params).
    return {"depth": stats["depth"], "two_qubit_gates": stats["two_qubit_gates"], "params": stats["circuit_params"]}


def _tuning_summary(results: Sequence[FoldResult]) -> dict[str, Any]:
    """What the validation speakers chose, per fold and seed (experiments/tuning.py): the dashboard shows it."""
    per_task = [{"fold": r.fold, "seed": r.seed, **r.hyperparameters.get("tuning", {}).get("chosen", {})}
                for r in results]
    budgets = {r.hyperparameters.get("tuning", {}).get("budget") for r in results}
    return {"budget": max((b for b in budgets if b), default=0), "chosen": per_task}


def _record(recorder, evaluation: Evaluation) -> None:
    summary = evaluation.summary()
    recorder.log_confusion(summary["confusion"], list(EMOTIONS))
    recorder.log_json("predictions.json", evaluation.predictions_record())
    recorder.log_json("folds.json", [
        {"fold": r.fold, "seed": r.seed, "status": r.status, "epochs": r.epochs, "best_epoch": r.best_epoch,
         "seconds": r.seconds, "tuning": r.hyperparameters.get("tuning"),
         **{k: v for k, v in r.metrics.items() if k != "confusion"}}
        for r in evaluation.results
    ])
    first_seed = evaluation.results[0].seed
    status, reason = _outcome(evaluation)
    recorder.set_outcome(status, reason=reason, epochs_run=max(r.epochs for r in evaluation.results))
    recorder.log_split({f"fold{r.fold}": r.split_speakers for r in evaluation.results if r.seed == first_seed})
    recorder.log_final({k: v for k, v in summary.items()
                        if isinstance(v, (int, float, list)) and k not in ("confusion", "seeds")})


def _outcome(evaluation: Evaluation) -> tuple[str, str]:
    """How the whole evaluation ended (``qser.status`` and reason), from its fold tasks."""
    statuses = [r.status for r in evaluation.results]
    if evaluation.cancelled or "stopped" in statuses:
        where = next((f" (fold {r.fold + 1}, seed {r.seed}: candidate {s['candidate']} / {s['of']} of its tuning "
                      f"search, epoch {s['epoch']})" for r in evaluation.results
                      if (s := (r.hyperparameters.get("tuning") or {}).get("stopped")) and s["of"] > 1), "")
        return "stopped", f"stopped by the user after {len(statuses)} fold tasks{where}; finished ones kept"
    if statuses and all(s == "early-stopped" for s in statuses):
        return "early-stopped", "every fold task stopped early on validation UA"
    return "finished", ""

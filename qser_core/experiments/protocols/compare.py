"""One comparison runner: several heads on identical inputs, paired tests against the quantum head.

``qser evaluate --head logreg,mlp-matched,quantum --json``, the dashboard's Train job and a sweep
call :func:`compare_heads`; ``qser compare RUN_A RUN_B`` and the Compare page call :func:`compare_runs`.

Identical inputs means: the same corpus rows, the same speaker-disjoint folds (or split), the same
reducer per fold (fitted once on its training rows, shared by every head) and the same seeds, so the
per-clip predictions of two heads can be compared clip by clip (McNemar, paired bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from qser_core.config import HEAD_KINDS, QserConfig
from qser_core.errors import ConfigError, DataError, TrainingCancelled
from qser_core.experiments.protocols import crossval, single
from qser_core.experiments.metrics import mcnemar, paired_bootstrap
from qser_core.experiments.pipeline import FeatureSet, fit_reducer, prepare, single_split
from qser_core.progress import RunContext

__all__ = [
    "PROTOCOLS",
    "REFERENCE_HEAD",
    "PREDICTION_RUN_TYPES",
    "Comparison",
    "compare_heads",
    "compare_runs",
    "compare_predictions",
    "PAIRED_DIFFERENCE",
    "pair_with_quantum",
]

#: ``crossval``: folds × seeds (:mod:`~qser_core.experiments.protocols.crossval`); ``single``: one split, first seed.
PROTOCOLS = ("crossval", "single")
#: Every other head is tested against this one.
REFERENCE_HEAD = "quantum"
#: The one sign of every paired head difference the lab reports (evaluate, Train page, sweeps): the quantum
#: head's score minus the other head's, so a positive number means the PQC did better.
PAIRED_DIFFERENCE = "quantum − other"
#: Run types whose records store per-clip test predictions (``predictions.json``): what paired tests need.
PREDICTION_RUN_TYPES = ("evaluate", "train")
METRICS = ("ua", "wa", "macro_f1")


@dataclass
class Comparison:
    """Several heads run on identical inputs under one protocol.

    Attributes
    ----------
    config : QserConfig
        The shared settings (``head.kind`` is replaced by each head).
    protocol : {"crossval", "single"}
    results : dict of str to Evaluation or TrainedModel
        One entry per head that ran, in the order asked for.
    paired : dict of str to dict
        Per head other than the quantum head: :func:`compare_predictions` of that head (A) against the
        quantum head (B). Empty when the quantum head was not among the heads, or when the comparison
        was stopped (a partial head against a finished one is no fair test).
    cancelled : bool
    paired_note : str
        Why there are no paired tests although the quantum head ran ("" otherwise).
    """

    config: QserConfig
    protocol: str
    results: dict[str, Any] = field(default_factory=dict)
    paired: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: bool = False
    paired_note: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-ready: ``protocol``, ``heads``, ``reference``, ``results`` (per head), ``paired``, ``cancelled``."""
        return {"protocol": self.protocol, "heads": list(self.results), "reference": REFERENCE_HEAD,
                "results": {kind: result.summary() for kind, result in self.results.items()},
                "paired": self.paired, "paired_note": self.paired_note, "cancelled": self.cancelled}


def _check(kinds: Sequence[str], protocol: str) -> list[str]:
    kinds = list(kinds)
    unknown = [k for k in kinds if k not in HEAD_KINDS]
    if not kinds or unknown or len(set(kinds)) != len(kinds):
        raise ConfigError(f"heads must be distinct names from {', '.join(HEAD_KINDS)}; got {kinds!r}")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    return kinds


def compare_heads(
    config: QserConfig,
    kinds: Sequence[str],
    *,
    protocol: str = "crossval",
    features: FeatureSet | None = None,
    context: RunContext | None = None,
) -> Comparison:
    """Run several heads on identical inputs, one after the other, and test each against the quantum head.

    Parameters
    ----------
    config : QserConfig
        Shared settings; ``head.kind`` is replaced by each entry of ``kinds``.
    kinds : sequence of str
        Heads to run (``logreg``, ``mlp``, ``mlp-matched``, ``quantum``), in order.
    protocol : {"crossval", "single"}, default="crossval"
        ``crossval``: :func:`~qser_core.experiments.protocols.crossval.evaluate` per head (folds × seeds);
        ``single``: :func:`~qser_core.experiments.protocols.single.train_model` per head (one split, first seed).
    features : FeatureSet, optional
        Reuse prepared inputs.
    context : RunContext, optional
        ``progress(done, total, message)`` over extraction, then over all heads' work. Events carry
        the head, fold and seed (``fold`` is None for ``single``): ``epoch`` after every epoch (the
        chosen candidate's once a tuning search ends), ``trial`` live during each search (candidate
        k / n, its settings, its epochs, best validation UA so far). The cancel token stops the
        running head between batches (its best weights so far are scored); heads not started are
        skipped and the comparison is marked cancelled. With ``track`` (the default) each head is
        recorded as its own run (``evaluate`` or ``train``).

    Returns
    -------
    Comparison

    Raises
    ------
    ConfigError
        Unknown or repeated heads, or an unknown protocol.
    TrainingCancelled
        Cancelled before the first head finished an epoch (later heads stopped that early are left out).
    """
    kinds = _check(kinds, protocol)
    from qser_core.tracking.recorder import check_store

    context = RunContext.of(context)
    check_store(enabled=context.track)  # a store fault stops us here, not after the work
    features = features or prepare(config, progress=context.progress)
    comparison = Comparison(config=config, protocol=protocol)
    runner = _crossval_runner if protocol == "crossval" else _single_runner
    run = runner(config, features, context, len(kinds))
    for i, kind in enumerate(kinds):
        if context.cancelled:
            break
        try:
            comparison.results[kind] = run(i, config.replace("head", kind=kind))
        except TrainingCancelled:
            if not comparison.results:
                raise
            break  # stopped before this head finished an epoch: keep the heads that did
    comparison.cancelled = len(comparison.results) < len(kinds) or any(
        _cancelled(r) for r in comparison.results.values())
    context.report(len(kinds), len(kinds), "stopped" if comparison.cancelled else "done")
    if comparison.cancelled and REFERENCE_HEAD in comparison.results and len(comparison.results) > 1:
        comparison.paired_note = ("no paired tests: the run was stopped, so at least one head is a partial result "
                                  "and testing it against the others would not be fair; train again without Stop")
    elif not comparison.cancelled:
        comparison.paired = _paired_tests(comparison.results)
    return comparison


def _crossval_runner(config, features, context: RunContext, n_heads: int):
    reducers: dict[int, Any] = {}  # one reducer per fold, fitted once, shared by every head

    def run(i, config):
        progress = context.progress
        scaled = (lambda done, total, msg: progress(i * total + done, n_heads * total, msg)) if progress else None
        return crossval.evaluate(config, features=features, context=context.replace(progress=scaled),
                                 reducers=reducers)
    return run


def _single_runner(config, features, context: RunContext, n_heads: int):
    reducer = fit_reducer(config, features, single_split(config, features))  # shared by every head

    def run(i, config):
        context.report(i, n_heads, f"training {config.head.kind}")
        return single.train_model(config, features=features, context=context, reducer=reducer)
    return run


def _cancelled(result) -> bool:
    return bool(getattr(result, "cancelled", False) or getattr(result, "metrics", {}).get("cancelled", False))


def _record(result) -> dict[str, Any]:
    return result.predictions_record() if hasattr(result, "predictions_record") else result.predictions


def _paired_tests(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if REFERENCE_HEAD not in results:
        return {}
    reference = _record(results[REFERENCE_HEAD])
    return {kind: pair_with_quantum(reference, _record(result))
            for kind, result in results.items() if kind != REFERENCE_HEAD}


def pair_with_quantum(quantum: dict, other: dict, *, metric: str = "ua") -> dict[str, Any]:
    """The paired test of the quantum head against another head, the one pairing rule of the lab.

    ``qser evaluate --head …``, the Train page and sweeps all call this, so one cell gives one number
    with one sign everywhere: the difference is quantum − other (:data:`PAIRED_DIFFERENCE`).

    Parameters
    ----------
    quantum, other : dict
        Prediction records of the quantum head and the other head on the same clips (see
        :func:`compare_predictions`).
    metric : {"ua", "wa", "macro_f1"}, default="ua"

    Returns
    -------
    dict
        :func:`compare_predictions` of (quantum, other), plus ``difference`` (the sign convention, in words).
    """
    return {**compare_predictions(quantum, other, metric=metric), "difference": PAIRED_DIFFERENCE}


# ------------------------------------------------------------------ recorded runs
def compare_runs(run_a: str, run_b: str, *, metric: str = "ua") -> dict[str, Any]:
    """Paired tests between two recorded runs on the clips both scored (``qser compare`` and the Compare page).

    Parameters
    ----------
    run_a, run_b : str
        Run ids of runs whose type is in :data:`PREDICTION_RUN_TYPES`.
    metric : {"ua", "wa", "macro_f1"}, default="ua"
        Metric of the bootstrap difference (A − B).

    Returns
    -------
    dict
        ``run_a``, ``run_b``, ``metric`` and what :func:`compare_predictions` returns.

    Raises
    ------
    ConfigError
        Unknown metric.
    DataError
        A run is missing, stored no predictions, or the runs scored different clips or folds.
    """
    from qser_core.tracking.reader import load_run

    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    records = []
    for run_id in (run_a, run_b):
        record = load_run(run_id).get("predictions")
        if not record:
            raise DataError(f"run {run_id} stored no per-clip predictions; paired tests compare runs of type "
                            f"{' or '.join(PREDICTION_RUN_TYPES)} (`qser train`, `qser evaluate`, the Train page)")
        records.append(record)
    return {"run_a": run_a, "run_b": run_b, "metric": metric,
            **compare_predictions(records[0], records[1], metric=metric)}


def compare_predictions(a: dict, b: dict, *, metric: str = "ua", seed: int = 0) -> dict[str, Any]:
    """McNemar and paired bootstrap between two prediction records on the clips both scored.

    Parameters
    ----------
    a, b : dict
        Records from :func:`~qser_core.experiments.pipeline.predictions_record` (an evaluation's,
        a trained model's or a recorded run's ``predictions.json``). Both must have scored the same
        clips; cross-validation records must also have tested each clip in the same fold (same
        ``data.n_folds`` and ``data.split_seed``).
    metric : {"ua", "wa", "macro_f1"}, default="ua"
        Metric of the bootstrap difference (A − B).
    seed : int, default=0
        Bootstrap resampling seed.

    Returns
    -------
    dict
        ``seed`` (the first training seed both records share), ``n_clips``, ``mcnemar``, ``bootstrap``.

    Raises
    ------
    DataError
        When the records differ in clips or folds, or share no training seed.
    """
    if sorted(a["clips"]) != sorted(b["clips"]) or len(set(a["clips"])) != len(a["clips"]):
        raise DataError("the two runs were not scored on the same test clips; use the same dataset, "
                        "data.n_folds and data.split_seed (and the same protocol) for both")
    order_a, order_b = np.argsort(a["clips"], kind="stable"), np.argsort(b["clips"], kind="stable")
    folds_a, folds_b = a.get("folds"), b.get("folds")
    if (folds_a is None) != (folds_b is None) or (
            folds_a is not None and not np.array_equal(np.asarray(folds_a)[order_a], np.asarray(folds_b)[order_b])):
        raise DataError("the two runs tested the clips in different folds (or one is a single split); use the "
                        "same data.n_folds and data.split_seed for both")
    common = [s for s in a["y_pred"] if s in b["y_pred"]]
    if not common:
        raise DataError(f"the runs share no training seed ({sorted(a['y_pred'])} vs {sorted(b['y_pred'])}); "
                        "run both with the same train.seeds")
    s = common[0]
    y_true = np.asarray(a["y_true"])[order_a]
    ya, yb = np.asarray(a["y_pred"][s])[order_a], np.asarray(b["y_pred"][s])[order_b]
    return {
        "seed": int(s),
        "n_clips": int(len(ya)),
        "mcnemar": mcnemar(y_true, ya, yb),
        "bootstrap": paired_bootstrap(y_true, ya, yb, metric=metric, seed=seed),
    }

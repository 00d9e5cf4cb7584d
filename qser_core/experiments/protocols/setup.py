"""The set-up every protocol shares: store check, inputs, tracked run, epoch logging.

:func:`~qser_core.experiments.protocols.single.train_model`, :func:`~qser_core.experiments.protocols.crossval.evaluate` and
:func:`~qser_core.experiments.protocols.hybrid.train_hybrid` each open their run with :func:`protocol_run`, so
they cannot drift apart in the order of these steps:

1. the run store is opened first (:func:`~qser_core.tracking.recorder.check_store`): a fault stops the
   run in seconds, before minutes of extraction or training;
2. the inputs are prepared (:func:`~qser_core.experiments.pipeline.prepare`), unless given or not wanted,
   and the work is planned on them (the split, the fold tasks): too few speakers opens no run;
3. the tracked run opens (:func:`~qser_core.tracking.recorder.track_run`): on a Stop
   (:class:`~qser_core.errors.TrainingCancelled`) it is recorded as interrupted, on another error as failed;
4. every ``epoch`` event of the run's context is logged to it as it happens, then passed on to the caller.

What the protocol records at the end (metrics, outcome, artefacts) stays with the protocol.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from qser_core.config import QserConfig
from qser_core.experiments.pipeline import FeatureSet, prepare
from qser_core.progress import Event, RunContext

__all__ = ["ProtocolRun", "protocol_run"]


@dataclass
class ProtocolRun:
    """An open protocol run (what :func:`protocol_run` yields).

    Attributes
    ----------
    recorder : RunRecorder
        The tracked run (writes nothing when the context's ``track`` is False; ``run_id`` is then None).
    context : RunContext
        The caller's context; its ``epoch`` events are also logged to ``recorder``. Pass it on to the work.
    features : FeatureSet or None
        The prepared inputs (None when ``prepare_features`` was False and none were given).
    plan : object
        What ``plan(features)`` returned (None without ``plan``).
    """

    recorder: Any
    context: RunContext
    features: FeatureSet | None
    plan: Any = None


@contextmanager
def protocol_run(config: QserConfig, context: RunContext | None = None, *, run_type: str,
                 features: FeatureSet | None = None, prepare_features: bool = True,
                 plan: Callable[[FeatureSet], Any] | None = None,
                 epoch_prefix: Callable[[Event], str] | None = None) -> Iterator[ProtocolRun]:
    """Check the store, prepare the inputs, open the tracked run and log its epochs: ``with protocol_run(...) as run:``.

    Parameters
    ----------
    config : QserConfig
    context : RunContext, optional
        ``track`` decides whether the run is recorded; ``progress`` reports the extraction.
    run_type : {"train", "evaluate", "hybrid"}
    features : FeatureSet, optional
        Prepared inputs to reuse.
    prepare_features : bool, default=True
        Prepare the inputs when ``features`` is None (the hybrid run takes its own from the frozen front).
    plan : callable, optional
        ``plan(features)``: the split or the fold tasks, made before the run opens (a
        :class:`~qser_core.errors.DataError` there records no failed run).
    epoch_prefix : callable, optional
        ``epoch_prefix(event)``: the metric prefix of an epoch in the run (``"fold0/seed1/"``); default ``""``.

    Yields
    ------
    ProtocolRun

    Raises
    ------
    BackendError
        The run store cannot be used (raised before any work).
    """
    from qser_core.tracking.recorder import check_store, track_run

    context = RunContext.of(context)
    check_store(enabled=context.track)  # a store fault stops us here, not after the work
    if features is None and prepare_features:
        features = prepare(config, progress=context.progress)
    planned = plan(features) if plan is not None else None
    prefix = epoch_prefix or (lambda event: "")
    with track_run(config, run_type=run_type, enabled=context.track) as recorder:
        def log_epoch(event: Event) -> None:
            if event.kind == "epoch" and event.payload is not None:
                recorder.log_epoch(event.payload, prefix=prefix(event))

        yield ProtocolRun(recorder=recorder, context=context.listen(log_epoch), features=features,
                          plan=planned)

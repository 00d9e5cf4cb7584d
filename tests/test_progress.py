"""Tests of qser_core.progress: the run context (progress, cancel, tracking, one event type) and its token."""

from __future__ import annotations

import pickle

import pytest

from qser_core.errors import TrainingCancelled
from qser_core.progress import EVENT_KINDS, CancelToken, Event, RunContext


class Recorder:
    """A module-level (so picklable) ``on_event`` that keeps what it gets."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)


class TestEvent:
    def test_unknown_kind_is_refused(self):
        with pytest.raises(ValueError, match=r"Event kind must be one of epoch, trial, fold, stage, sweep; got 'batch'"):
            Event("batch")

    def test_filled_keeps_its_own_fields(self):
        event = Event("epoch", payload=1, fold=2).filled({"fold": 0, "seed": 3, "head": None})
        assert (event.fold, event.seed, event.head, event.payload) == (2, 3, None, 1)

    def test_is_frozen(self):
        with pytest.raises(AttributeError):
            Event("stage").kind = "epoch"
        assert set(EVENT_KINDS) == {"epoch", "trial", "fold", "stage", "sweep"}


class TestScope:
    def test_child_scopes_fill_the_events_inner_ones_win(self):
        seen = Recorder()
        outer = RunContext(on_event=seen).child(head="mlp", fold=0)
        outer.child(fold=1, seed=2).emit(Event("epoch", payload="log"))
        outer.emit(Event("trial"))
        assert [(e.kind, e.head, e.fold, e.seed) for e in seen.events] == [("epoch", "mlp", 1, 2),
                                                                            ("trial", "mlp", 0, None)]
        assert outer.scope == {"head": "mlp", "fold": 0}  # the child did not change its parent

    def test_child_takes_only_scope_fields(self):
        with pytest.raises(ValueError, match="RunContext.child takes head, stage, fold, seed; got epoch"):
            RunContext().child(epoch=1)

    def test_listen_sees_the_filled_event_then_passes_it_on(self):
        seen, order = Recorder(), []
        context = RunContext(on_event=lambda e: order.append(("caller", e.seed))).listen(
            lambda e: order.append(("listener", e.seed)))
        context.child(seed=4).emit(Event("epoch"))
        assert order == [("listener", 4), ("caller", 4)]
        RunContext(on_event=seen).listen(lambda e: None).emit(Event("fold"))
        assert [e.kind for e in seen.events] == ["fold"]

    def test_without_callbacks_nothing_happens(self):
        context = RunContext()
        context.emit(Event("epoch"))
        context.report(1, 2, "half")
        context.check_cancelled()
        assert not context.cancelled and context.track and RunContext.of(None) == context

    def test_report_calls_progress(self):
        calls = []
        RunContext(progress=lambda d, t, m: calls.append((d, t, m))).report(1, 4, "fold 1")
        assert calls == [(1, 4, "fold 1")]


class TestCancel:
    def test_check_cancelled_raises_the_cancellation_error(self):
        token = CancelToken()
        context = RunContext(cancel=token).child(head="quantum")
        context.check_cancelled()  # not yet
        token.cancel()
        assert context.cancelled
        with pytest.raises(TrainingCancelled, match="stopped before the fit"):
            context.check_cancelled("stopped before the fit")


class TestPickle:
    def test_a_copy_keeps_token_scope_tracking_and_picklable_callbacks(self):
        token, seen = CancelToken(), Recorder()
        context = RunContext(cancel=token, track=False, on_event=seen).child(fold=3)
        copy = pickle.loads(pickle.dumps(context))  # what a worker process receives
        token.cancel()
        assert copy.cancelled and not copy.track and copy.scope == {"fold": 3}
        assert isinstance(copy.on_event, Recorder)  # a module-level object travels (it reports there)

    def test_callbacks_bound_to_this_process_stay_behind(self):
        context = RunContext(progress=lambda d, t, m: None, on_event=lambda e: None, cancel=CancelToken())
        copy = pickle.loads(pickle.dumps(context.listen(print)))
        assert copy.progress is None and copy.on_event is None and copy.cancel is not None
        copy.emit(Event("epoch"))  # no callback: nothing to call, nothing raised

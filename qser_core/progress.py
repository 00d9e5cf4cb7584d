"""How long work reports how far it got, what happens on the way, and how it is asked to stop: the run context.

Every long-running function of the library takes one keyword, ``context`` (a :class:`RunContext`),
instead of separate progress, cancel, callback and tracking parameters. It holds

- ``progress``: a :data:`Progress` callback, ``progress(done, total, message)``; the CLI draws a bar
  from it, the dashboard's jobs store it for their pages;
- ``cancel``: a :class:`CancelToken`, checked between batches; the Train page's Stop button cancels it;
- ``track``: whether the protocols record their runs with MLflow;
- ``on_event``: one callable taking one :class:`Event`, for every epoch, tuning trial, fold task,
  hybrid stage and sweep update. Nested calls scope the events they send with :meth:`RunContext.child`
  (``head``, ``stage``, ``fold``, ``seed``), so the caller learns where an epoch belongs from the event
  itself rather than from a callback shape per layer.

A token is a flag file: copies made by ``pickle`` (a :class:`concurrent.futures.ProcessPoolExecutor`
or a Ray task receiving it as an argument) see a cancel requested in any process on the machine.
A ``threading.Event`` cannot be pickled and a ``multiprocessing.Event`` reaches only processes
started with it, which is why the flag lives in the file system. A pickled :class:`RunContext`
keeps its token, ``track`` and scope, and its ``progress`` and ``on_event`` where they pickle (an
object of a module-level class); a lambda, a closure or a bound method of a page's job reports to
the process that made it, so it stays there and the copy goes without it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import uuid
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from qser_core.errors import TrainingCancelled

__all__ = ["Progress", "CancelToken", "Event", "EVENT_KINDS", "SCOPE_FIELDS", "RunContext"]

#: ``progress(done, total, message)``: ``done`` of ``total`` steps finished, ``message`` says which.
Progress = Callable[[int, int, str], None]


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class CancelToken:
    """A flag that asks running work to stop between batches, in this process or another one.

    Parameters
    ----------
    folder : str or path-like, optional
        Where the flag file goes (default: the system's temporary folder). Workers on other
        machines need a folder they share.

    Attributes
    ----------
    path : pathlib.Path
        The flag file; it exists once :meth:`cancel` was called.

    Notes
    -----
    The token that created the flag removes it when it is garbage collected; unpickled copies
    never do, so a worker cannot clear a cancel that its parent asked for.

    Examples
    --------
    >>> import pickle
    >>> token = CancelToken()
    >>> copy = pickle.loads(pickle.dumps(token))  # what a worker process receives
    >>> token.cancel(); copy.cancelled
    True
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.path = Path(folder or tempfile.gettempdir()) / f"qser-cancel-{uuid.uuid4().hex}"
        self._seen = False
        weakref.finalize(self, _remove, str(self.path))

    def cancel(self) -> None:
        """Ask the work holding this token (or a copy of it) to stop."""
        self._seen = True
        self.path.touch()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called on this token or on any copy of it."""
        # one stat per check (~1 µs): cheap next to a training batch; once set it stays set
        self._seen = self._seen or self.path.exists()
        return self._seen

    def __getstate__(self) -> dict:
        return {"path": self.path, "_seen": self._seen}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)  # no finalizer: the flag belongs to the token that made it

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


#: What an :class:`Event` can report, and its ``payload``: ``epoch`` (an
#: :class:`~qser_core.heads.training.EpochLog`), ``trial`` (a :class:`~qser_core.experiments.tuning.SearchEvent`),
#: ``fold`` (a :class:`~qser_core.experiments.protocols.crossval.FoldResult`), ``stage`` (None: the stage starts) and
#: ``sweep`` (the live :class:`~qser_core.experiments.sweeps.runner.SweepResult`).
EVENT_KINDS = ("epoch", "trial", "fold", "stage", "sweep")
#: Where an event belongs; :meth:`RunContext.child` fills them in.
SCOPE_FIELDS = ("head", "stage", "fold", "seed")


@dataclass(frozen=True)
class Event:
    """Something that happened during a run: one type for every epoch, trial, fold, stage and sweep update.

    Attributes
    ----------
    kind : {"epoch", "trial", "fold", "stage", "sweep"}
        See :data:`EVENT_KINDS` for the ``payload`` of each.
    payload : object, default=None
    head : str or None
        The head kind (``logreg``, ``mlp``, ``mlp-matched``, ``quantum``).
    stage : str or None
        The hybrid run's stage (``frozen`` or ``hybrid``).
    fold : int or None
        Cross-validation fold, 0-based; None on the single split.
    seed : int or None

    Examples
    --------
    >>> Event("epoch", payload={"epoch": 1}).filled({"head": "mlp", "fold": 0}).fold
    0
    """

    kind: str
    payload: Any = None
    head: str | None = None
    stage: str | None = None
    fold: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"Event kind must be one of {', '.join(EVENT_KINDS)}; got {self.kind!r}")

    def filled(self, scope: Mapping[str, Any]) -> "Event":
        """This event with the fields it leaves at None taken from ``scope``."""
        missing = {k: v for k, v in scope.items() if getattr(self, k) is None and v is not None}
        return replace(self, **missing) if missing else self


@dataclass(frozen=True)
class RunContext:
    """Progress, cancellation, tracking and events of one run: the one keyword every long function takes.

    Parameters
    ----------
    progress : Progress or None, default=None
        ``progress(done, total, message)``.
    cancel : CancelToken or None, default=None
        Checked between batches; the work stops and keeps what finished.
    track : bool, default=True
        Record protocol runs with MLflow.
    on_event : callable or None, default=None
        ``on_event(Event)`` for every epoch, trial, fold, stage and sweep update.
    scope : dict, default={}
        Fields (of :data:`SCOPE_FIELDS`) filled into every event this context emits; see :meth:`child`.

    Examples
    --------
    >>> seen = []
    >>> context = RunContext(on_event=seen.append, track=False)
    >>> context.child(head="mlp").child(fold=1, seed=0).emit(Event("epoch", payload=None))
    >>> seen[0].head, seen[0].fold, seen[0].seed
    ('mlp', 1, 0)
    """

    progress: Progress | None = None
    cancel: CancelToken | None = None
    track: bool = True
    on_event: Callable[[Event], None] | None = None
    scope: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, context: "RunContext | None") -> "RunContext":
        """``context``, or a default one (no progress, no cancel, tracked, no events) when it is None."""
        return cls() if context is None else context

    @property
    def cancelled(self) -> bool:
        """Whether the run was asked to stop."""
        return self.cancel is not None and self.cancel.cancelled

    def check_cancelled(self, message: str = "the run was stopped before it produced a result; start it again") -> None:
        """Raise :class:`~qser_core.errors.TrainingCancelled` with ``message`` once the run was asked to stop."""
        if self.cancelled:
            raise TrainingCancelled(message)

    def report(self, done: int, total: int, message: str = "") -> None:
        """Call ``progress(done, total, message)``, when there is one."""
        if self.progress is not None:
            self.progress(done, total, message)

    def emit(self, event: Event) -> None:
        """Send ``event``, its unset fields filled from the scope, to ``on_event`` (when there is one)."""
        if self.on_event is not None:
            self.on_event(event.filled(self.scope))

    def child(self, **fields: Any) -> "RunContext":
        """A copy whose events also carry ``fields`` (``head``, ``stage``, ``fold``, ``seed``); inner ones win."""
        unknown = sorted(set(fields) - set(SCOPE_FIELDS))
        if unknown:
            raise ValueError(f"RunContext.child takes {', '.join(SCOPE_FIELDS)}; got {', '.join(unknown)}")
        return replace(self, scope={**self.scope, **fields})

    def listen(self, listener: Callable[[Event], None]) -> "RunContext":
        """A copy whose events go to ``listener`` first, then on to this context's ``on_event``."""
        downstream = self.on_event

        def both(event: Event) -> None:
            listener(event)
            if downstream is not None:
                downstream(event)
        return replace(self, on_event=both)

    def replace(self, **changes: Any) -> "RunContext":
        """A copy with ``changes`` (e.g. ``progress=`` scaled to a part of the work, ``on_event=`` routed)."""
        return replace(self, **changes)

    def __getstate__(self) -> dict:
        return {"progress": _picklable(self.progress), "cancel": self.cancel, "track": self.track,
                "on_event": _picklable(self.on_event), "scope": dict(self.scope)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def _picklable(fn: Callable | None) -> Callable | None:
    """``fn`` when it pickles, else None: a callback bound to this process (a bar, a page, a run) stays here."""
    if fn is None:
        return None
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, TypeError, AttributeError):  # a lambda, a closure, an object holding a lock
        return None
    return fn

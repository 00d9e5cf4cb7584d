"""Background training jobs: a thread around the library's comparison runner, so training carries on
while the user visits other pages.

The thread runs :func:`qser_core.experiments.protocols.compare.compare_heads` (the heads on identical inputs, paired
tests against the quantum head) and keeps what the Train page shows (per-head epoch logs, progress,
results, paired tests, the error message) behind a lock; the page polls it from an
``st.fragment(run_every=...)``. The Stop button calls :meth:`TrainingJob.stop`, which cancels the
library's :class:`qser_core.progress.CancelToken`, so the training loop itself stops between batches.
No Streamlit call happens in the thread.

The ``hybrid`` mode runs :func:`qser_core.experiments.protocols.hybrid.train_hybrid` instead: one run whose epochs come
in two curve groups, ``frozen`` (the frozen-backbone PQC head, trained first) and ``hybrid``
(backbone tail + reduction + PQC trained end to end from there).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from app_support.background import BackgroundJob
from qser_core.config import QserConfig
from qser_core.errors import TrainingCancelled

MODES = ("quick", "cross-validation", "hybrid")
PROTOCOL_OF_MODE = {"quick": "single", "cross-validation": "crossval"}  # the runner's protocol names
HYBRID_STAGES = ("frozen", "hybrid")  # the curve groups of a hybrid run (its events' ``stage``)


@dataclass
class JobSnapshot:
    """A consistent copy of a job's state for one page render."""

    status: str  # queued | running | done | stopped | failed
    heads: list[str]
    logs: dict[str, list[dict[str, Any]]]  # head (hybrid: stage) → one row per epoch (run, epoch, losses, ...)
    progress: tuple[int, int, str]
    results: dict[str, Any]  # head → TrainedModel | Evaluation; hybrid mode: {"hybrid": HybridResult}
    error: str
    seconds: float
    mode: str = "quick"
    notes: list[str] = field(default_factory=list)
    paired: dict[str, dict[str, Any]] = field(default_factory=dict)  # head → paired test against the quantum head
    paired_note: str = ""  # why there are no paired tests (a stopped run)
    search: dict[str, dict[str, Any]] = field(default_factory=dict)  # head → its tuning search as it runs (below)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "stopped", "failed")


class TrainingJob(BackgroundJob):
    """Train several heads on identical inputs, one after the other, in a daemon thread.

    Stop keeps the best model so far of the head in training and scores it.

    Parameters
    ----------
    config : QserConfig
        The session's config; ``head.kind`` is replaced by each entry of ``heads``.
    heads : list of str
        Head kinds to compare (``logreg``, ``mlp``, ``mlp-matched``, ``quantum``). Ignored in the
        ``hybrid`` mode, whose curve groups are :data:`HYBRID_STAGES`.
    mode : {"quick", "cross-validation", "hybrid"}, default="quick"
        ``quick``: :func:`~qser_core.experiments.protocols.compare.compare_heads` on the single speaker-disjoint split;
        ``cross-validation``: the same over folds × seeds;
        ``hybrid``: :func:`qser_core.experiments.protocols.hybrid.train_hybrid` (the frozen-backbone PQC head, then the
        backbone tail + reduction + PQC trained end to end, on the same split and seed).
    track : bool, default=True
        Record every run with MLflow.
    """

    def __init__(self, config: QserConfig, heads: list[str], *, mode: str = "quick", track: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"training mode must be one of {', '.join(MODES)}; got {mode!r}")
        heads = list(HYBRID_STAGES) if mode == "hybrid" else list(heads)
        self.config, self.heads, self.mode, self.track = config, heads, mode, track
        super().__init__()
        self._notes: list[str] = []
        self._logs: dict[str, list[Any]] = {h: [] for h in self.heads}
        self._results: dict[str, Any] = {}
        self._paired: dict[str, dict[str, Any]] = {}
        self._paired_note = ""
        # head → {"event": the latest SearchEvent, "run": fold · seed label, "runs": labels seen,
        #         "rows": the current candidate's epoch rows (its live curve), "seconds": every epoch's seconds}
        self._search: dict[str, dict[str, Any]] = {}

    @property
    def label(self) -> str:
        """What the job trains, in words (the sidebar's note)."""
        if self.mode == "hybrid":
            c = self.config
            return f"the hybrid model ({c.embedding.backbone}, last {c.train.trainable_blocks} block(s))"
        return ", ".join(self.heads)

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(status=self._status, heads=list(self.heads),
                               logs={h: list(v) for h, v in self._logs.items()}, progress=self._progress,
                               results=dict(self._results), error=self._error,
                               seconds=self._seconds(), mode=self.mode,
                               notes=list(self._notes), paired=dict(self._paired), paired_note=self._paired_note,
                               search={h: {**v, "rows": list(v["rows"]), "runs": list(v["runs"]),
                                           "seconds": list(v["seconds"])} for h, v in self._search.items()})

    # ------------------------------------------------------------ the thread
    thread_name, failure = "qser-train", "training failed"

    def _on_epoch(self, head: str, log: Any, run: str = "split") -> None:
        row = {"head": head, "run": run, **dataclasses.asdict(log)}
        with self._lock:
            self._logs[head].append(row)

    def _on_event(self, event: Any) -> None:
        """The library's :class:`~qser_core.progress.Event`: epochs to the curves, trials to the search view."""
        if event.kind == "epoch":  # a hybrid run's curve groups are its stages, a comparison's its heads
            group = event.stage if self.mode == "hybrid" else event.head
            self._on_epoch(group, event.payload, _run_label(event.fold, event.seed))
        elif event.kind == "trial" and self.mode != "hybrid":
            self._on_trial(event.head, event.fold, event.seed, event.payload)

    def _on_trial(self, head: str, fold: int | None, seed: int, event: Any) -> None:
        """A :class:`~qser_core.experiments.tuning.SearchEvent`: the search's live state for the page."""
        run = _run_label(fold, seed)
        with self._lock:
            search = self._search.setdefault(head, {"rows": [], "runs": [], "seconds": []})
            if run not in search["runs"]:
                search["runs"].append(run)
            if event.epoch_log is None:  # a new candidate: its curve starts empty
                search["rows"] = []
            else:
                search["rows"].append({"head": head, "run": run, **dataclasses.asdict(event.epoch_log)})
                search["seconds"].append(float(event.epoch_log.seconds))
            search.update(event=event, run=run)

    def _work(self) -> str:
        try:
            status = self._run_hybrid() if self.mode == "hybrid" else self._run_heads()
        except TrainingCancelled as exc:
            with self._lock:
                self._notes = [*self._notes, str(exc)]
            return "stopped"
        with self._lock:
            self._progress = (1, 1, status)
        return status

    def _run_heads(self) -> str:
        """:func:`~qser_core.experiments.protocols.compare.compare_heads` over the job's heads."""
        from qser_core.experiments.protocols.compare import compare_heads

        comparison = compare_heads(self.config, self.heads, protocol=PROTOCOL_OF_MODE[self.mode],
                                   context=self.run_context(track=self.track, on_event=self._on_event))
        with self._lock:
            self._results, self._paired = dict(comparison.results), dict(comparison.paired)
            self._paired_note = comparison.paired_note
        return "stopped" if comparison.cancelled else "done"

    def _run_hybrid(self) -> str:
        """One :func:`~qser_core.experiments.protocols.hybrid.train_hybrid` run; epochs go to the ``frozen`` / ``hybrid`` curves.

        No ``prepare`` first: without ``features`` the hybrid run takes its embeddings from
        the frozen activations it computes anyway, so no separate extraction pass is needed.
        """
        from qser_core.experiments.protocols.hybrid import train_hybrid

        result = train_hybrid(self.config, context=self.run_context(track=self.track, on_event=self._on_event))
        with self._lock:
            self._results["hybrid"] = result
        return "stopped" if self.cancel_token.cancelled else "done"


def _run_label(fold: int | None, seed: int) -> str:
    """The curve group of one training: ``split`` (quick) or ``fold 2 · seed 0`` (cross-validation)."""
    return "split" if fold is None else f"fold {fold + 1} · seed {seed}"


# ------------------------------------------------------------------ every tab's view of the jobs
@dataclass(frozen=True)
class BoardEntry:
    """One job on the :class:`JobBoard`: its id (shown in the list), the job and when it started (UTC)."""

    id: str
    job: TrainingJob
    started: datetime.datetime


class JobBoard:
    """Running and recent training jobs of this server, shared by every browser tab and session.

    A job started in one tab shows in all of them (any tab can watch or stop it); closing the tab
    that started it no longer orphans it. Finished jobs beyond the ``keep`` most recent are dropped.

    Parameters
    ----------
    keep : int, default=8
        How many finished jobs stay listed.
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._entries: list[BoardEntry] = []
        self._count = itertools.count(1)

    def add(self, job: TrainingJob) -> BoardEntry:
        """Put a (started) job on the board."""
        with self._lock:
            entry = BoardEntry(id=f"job {next(self._count)}", job=job,
                               started=datetime.datetime.now(datetime.timezone.utc))
            self._entries.append(entry)
            finished = [e for e in self._entries if not e.job.alive]
            drop = {id(e) for e in finished[: max(len(finished) - self.keep, 0)]}
            self._entries = [e for e in self._entries if id(e) not in drop]
            return entry

    def entries(self) -> list[BoardEntry]:
        """Running jobs first, then finished ones, each newest first."""
        with self._lock:
            newest = list(reversed(self._entries))
        return [e for e in newest if e.job.alive] + [e for e in newest if not e.job.alive]

    def running(self) -> list[BoardEntry]:
        """The jobs still training."""
        return [e for e in self.entries() if e.job.alive]

    def find(self, job: TrainingJob | None) -> BoardEntry | None:
        """The entry of ``job`` (None when it is not on the board)."""
        return next((e for e in self.entries() if e.job is job), None)


#: The server's board (one per server process: every session imports this same module).
BOARD = JobBoard()

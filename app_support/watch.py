"""Training as it runs, in words a person can watch: epoch k of N, best validation UA so far, time left.

The dashboard's Train page and Live demo show one :func:`epoch_status` per head while a job runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["EpochStatus", "epoch_status", "search_status"]


@dataclass(frozen=True)
class EpochStatus:
    """Where one head's training stands.

    Attributes
    ----------
    run, n_runs : int
        The run being trained (1-based; a fold × seed in cross-validation) and how many there are.
    epoch, epochs : int
        Epochs finished in that run and its upper bound (``train.epochs``).
    best_val_ua : float
        Best validation UA of that run so far (NaN before the first epoch or without validation).
    seconds_left : float
        At most this many seconds to go, at the mean epoch time so far (early stopping may end
        sooner); NaN before the first epoch.
    """

    run: int
    n_runs: int
    epoch: int
    epochs: int
    best_val_ua: float
    seconds_left: float

    @property
    def fraction(self) -> float:
        """Share of the epochs (of all runs) done, in [0, 1]."""
        done = (self.run - 1) * self.epochs + self.epoch
        return min(done / (self.n_runs * self.epochs), 1.0) if self.epochs and self.n_runs else 0.0

    def describe(self) -> str:
        """``"fold 2 of 6 · epoch 12 / 200 · best val UA 0.412 · ≤ 40 s left"``."""
        parts = [f"run {self.run} of {self.n_runs}"] if self.n_runs > 1 else []
        parts.append(f"epoch {self.epoch} / {self.epochs}")
        if not math.isnan(self.best_val_ua):
            parts.append(f"best val UA {self.best_val_ua:.3f}")
        if not math.isnan(self.seconds_left):
            parts.append(f"≤ {_duration(self.seconds_left)} left")
        return " · ".join(parts)


def epoch_status(rows: Sequence[Mapping[str, Any]], *, epochs: int, n_runs: int = 1) -> EpochStatus:
    """Summarise the epoch logs of one head's training so far.

    Parameters
    ----------
    rows : sequence of mapping
        One per finished epoch, in order, with ``epoch``, ``val_ua``, ``seconds`` and, when several
        runs train one after the other, ``run`` (any label; a new label starts a new run).
    epochs : int
        Upper bound on epochs per run (``train.epochs``); must be at least 1.
    n_runs : int, default=1
        Runs the head trains in all (folds × seeds in cross-validation); must be at least 1.

    Returns
    -------
    EpochStatus

    Examples
    --------
    >>> rows = [{"epoch": 1, "val_ua": 0.2, "seconds": 0.5}, {"epoch": 2, "val_ua": 0.3, "seconds": 0.5}]
    >>> epoch_status(rows, epochs=10).describe()
    'epoch 2 / 10 · best val UA 0.300 · ≤ 4 s left'
    """
    if epochs < 1 or n_runs < 1:
        raise ValueError(f"epochs and n_runs must be at least 1; got epochs={epochs}, n_runs={n_runs}")
    labels = list(dict.fromkeys(row.get("run", "") for row in rows))
    current = [row for row in rows if row.get("run", "") == labels[-1]] if labels else []
    run = max(len(labels), 1)
    epoch = int(current[-1]["epoch"]) if current else 0
    scores = [float(row["val_ua"]) for row in current if not math.isnan(float(row.get("val_ua", math.nan)))]
    seconds = [float(row.get("seconds", math.nan)) for row in rows]
    mean = sum(seconds) / len(seconds) if seconds else math.nan
    remaining = max(n_runs - run, 0) * epochs + max(epochs - epoch, 0)
    return EpochStatus(run=run, n_runs=max(n_runs, run), epoch=epoch, epochs=epochs,
                       best_val_ua=max(scores) if scores else math.nan, seconds_left=remaining * mean)


def search_status(event: Any, seconds: Sequence[float], *, epochs: int, run: int = 1, n_runs: int = 1) -> str:
    """One line for a tuning search as it runs (:class:`~qser_core.experiments.tuning.SearchEvent`).

    Parameters
    ----------
    event : SearchEvent
        The search's latest event: candidate k / n and its settings, the epoch just finished, best
        validation UA so far.
    seconds : sequence of float
        Seconds of every epoch the search ran so far (all candidates): the mean prices what is left.
    epochs : int
        Upper bound on epochs per candidate (``train.epochs``; 1 for a one-solve head).
    run, n_runs : int, default=1
        The training in progress (a fold × seed in cross-validation) and how many there are.

    Returns
    -------
    str
        ``"candidate 2 / 4 (lr 0.01, layers 2) · epoch 12 / 200 · best val UA so far 0.412 · ≤ 3 min left"``;
        the time left is an upper bound (early stopping usually ends a candidate sooner).

    Examples
    --------
    >>> from qser_core.experiments.tuning import SearchEvent
    >>> event = SearchEvent(candidate=1, n_candidates=4, overrides={"train.lr": 0.01}, epoch_log=None,
    ...                     best_val_ua=float("nan"))
    >>> search_status(event, [], epochs=100)
    'candidate 1 / 4 (lr 0.01) · epoch 0 / 100 · first epoch running'
    """
    epoch = int(event.epoch_log.epoch) if event.epoch_log is not None else 0
    parts = [f"run {run} of {n_runs}"] if n_runs > 1 else []
    if event.n_candidates > 1:
        parts.append(event.describe())
    parts.append(f"epoch {epoch} / {epochs}")
    if not math.isnan(event.best_val_ua):
        parts.append(f"best val UA so far {event.best_val_ua:.3f}")
    if seconds:
        left_epochs = (max(epochs - epoch, 0) + (event.n_candidates - event.candidate) * epochs
                       + max(n_runs - run, 0) * event.n_candidates * epochs)
        parts.append(f"≤ {_duration(left_epochs * sum(seconds) / len(seconds))} left")
    else:
        parts.append("first epoch running")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

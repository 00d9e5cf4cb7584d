"""The tuning budget every head gets: a small search chosen on the validation speakers only.

``qser evaluate --head logreg,mlp-matched,quantum --json`` shows each fold's choice under ``tuning``.

A head's result depends on its learning rate and regularisation as much as on its kind, so a
comparison is only fair when every head gets the same search. :func:`search_space` lists the
candidates of a head; each is a set of config overrides; :func:`fit_tuned` fits one head per
candidate on the split's training rows, scores each on the validation speakers (UA), keeps the
best and records every trial. Test speakers are never seen.

The budget is :data:`TRIALS` candidates per head and split:

=============  ==========================================  ==================================
head           candidates                                   why
=============  ==========================================  ==================================
logreg         weight decay in 1e-4, 1e-3, 1e-2, 1e-1      L-BFGS has no learning rate; the
                                                            penalty is all there is to choose
mlp            lr in 0.01, 0.05 × weight decay 1e-4, 1e-2  Adam: step size and penalty
mlp-matched    lr in 0.01, 0.05 × weight decay 1e-4, 1e-2  the same as mlp
quantum        lr in 0.01, 0.05 × layers L/2, L            Adam: step size and capacity
=============  ==========================================  ==================================

The quantum head's capacity knob is its depth, the classical heads' their penalty; the layer
candidates never exceed ``head.n_layers``, so the parameter-matched MLP (sized for
``head.n_layers``) is never smaller than any circuit tried. With ``head.n_layers=1`` the depth
has one candidate, so the quantum head gets two trials, fewer than the others.
Ties go to the earlier candidate (the lists run from the least to the most flexible).
``train.tune=false`` turns the search off: every head then trains once with the config's values.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qser_core.config import QserConfig
from qser_core.errors import TrainingCancelled
from qser_core.progress import Event, RunContext

__all__ = ["TRIALS", "LEARNING_RATES", "Trial", "Tuning", "SearchEvent", "search_space", "fit_tuned", "describe"]

TRIALS = 4  # candidates per head and split: the shared budget
LEARNING_RATES = (0.01, 0.05)  # Adam step sizes tried by every gradient-trained head
WEIGHT_DECAYS = (1e-4, 1e-2)  # Adam L2 penalties tried by the MLPs
LOGREG_WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)  # L-BFGS penalties (C = 1 / (wd * n_train))


@dataclass(frozen=True)
class Trial:
    """One candidate of the search and how it scored on the validation speakers.

    Attributes
    ----------
    overrides : dict
        ``{"section.field": value}`` applied to the config.
    val_ua : float
        Unweighted accuracy on the validation speakers (NaN without any).
    epochs : int
        Epochs run (1 for logistic regression).
    """

    overrides: dict[str, Any]
    val_ua: float
    epochs: int


@dataclass(frozen=True)
class Tuning:
    """What the search tried and what it chose (picklable, JSON-ready through :meth:`as_dict`).

    Attributes
    ----------
    head : str
        ``config.head.kind``.
    chosen : dict
        The overrides of the best trial (empty when the search was off).
    trials : list of Trial
    budget : int
        :data:`TRIALS`, the candidates every head was allowed.
    stopped : dict or None
        Where a Stop (cancel token) cut the search short: ``candidate`` (1-based) of ``of``, its
        ``overrides`` and the ``epoch`` it had finished (0: none), and ``chosen_candidate``, the
        candidate scored instead (the best finished so far). None when the search ran to its end.
    """

    head: str
    chosen: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    budget: int = TRIALS
    stopped: dict[str, Any] | None = None

    @property
    def cancelled(self) -> bool:
        """Whether Stop cut the search short (the head scored is a partial result)."""
        return self.stopped is not None

    def stop_reason(self) -> str:
        """``"stopped by the user in candidate 2 / 4 (lr 0.05, 1 layer) at epoch 12; ..."`` ("" when not stopped)."""
        if self.stopped is None:
            return ""
        s = self.stopped
        if s["of"] == 1:
            return f"stopped by the user at epoch {s['epoch']}; the best epoch so far is kept"
        return (f"stopped by the user in candidate {s['candidate']} / {s['of']} ({describe(s['overrides'])}) at epoch "
                f"{s['epoch']}; scored candidate {s['chosen_candidate']} / {s['of']}, the best finished so far")

    def applied(self, config: QserConfig) -> QserConfig:
        """``config`` with the chosen overrides: what the chosen head was trained with (its layers, rate, penalty)."""
        return _apply(config, self.chosen)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output and run records."""
        return {"head": self.head, "chosen": dict(self.chosen), "budget": self.budget,
                "trials": [dataclasses.asdict(t) for t in self.trials], "stopped": self.stopped}


@dataclass(frozen=True)
class SearchEvent:
    """What the search is doing now (a ``trial`` event's payload): when a candidate starts and after each of its epochs.

    Attributes
    ----------
    candidate, n_candidates : int
        The candidate in training (1-based) and how many the search tries.
    overrides : dict
        Its settings (``{"train.lr": 0.05, "head.n_layers": 1}``); empty with one candidate.
    epoch_log : EpochLog or None
        The epoch just finished (None when the candidate starts).
    best_val_ua : float
        Best validation UA of the search so far, finished candidates and this one (NaN before any epoch).
    """

    candidate: int
    n_candidates: int
    overrides: dict[str, Any]
    epoch_log: Any
    best_val_ua: float

    def describe(self) -> str:
        """``"candidate 2 / 4 (lr 0.05, 1 layer)"``."""
        return f"candidate {self.candidate} / {self.n_candidates}" + (
            f" ({describe(self.overrides)})" if self.overrides else "")


_NAMES = {"train.lr": "lr", "train.weight_decay": "weight decay", "head.n_layers": "layers"}


def describe(overrides: dict[str, Any]) -> str:
    """A candidate's settings in words: ``"lr 0.05, layers 1"`` (``"config values"`` when empty).

    Examples
    --------
    >>> describe({"train.lr": 0.05, "head.n_layers": 1})
    'lr 0.05, layers 1'
    """
    if not overrides:
        return "config values"
    return ", ".join(f"{_NAMES.get(k, k)} {v:g}" if isinstance(v, (int, float)) else f"{_NAMES.get(k, k)} {v}"
                     for k, v in overrides.items())


def search_space(config: QserConfig) -> list[dict[str, Any]]:
    """The candidates :func:`fit_tuned` tries for ``config.head.kind`` (see the module table).

    Parameters
    ----------
    config : QserConfig

    Returns
    -------
    list of dict
        Config overrides ``{"section.field": value}``, at most :data:`TRIALS`; one empty dict
        (the config as it is) when ``config.train.tune`` is off.

    Examples
    --------
    >>> space = search_space(QserConfig().replace("head", kind="quantum", n_layers=4))
    >>> [(c["train.lr"], c["head.n_layers"]) for c in space]
    [(0.01, 2), (0.01, 4), (0.05, 2), (0.05, 4)]
    """
    if not config.train.tune:
        return [{}]
    kind = config.head.kind
    if kind == "logreg":
        return [{"train.weight_decay": wd} for wd in LOGREG_WEIGHT_DECAYS]
    if kind == "quantum":
        layers = sorted({max(1, config.head.n_layers // 2), config.head.n_layers})
        return [{"train.lr": lr, "head.n_layers": n} for lr, n in itertools.product(LEARNING_RATES, layers)]
    return [{"train.lr": lr, "train.weight_decay": wd} for lr, wd in itertools.product(LEARNING_RATES, WEIGHT_DECAYS)]


def _apply(config: QserConfig, overrides: dict[str, Any]) -> QserConfig:
    for key, value in overrides.items():
        section, name = key.split(".")
        config = config.replace(section, **{name: value})
    return config


def fit_tuned(config: QserConfig, X, y, *, X_val=None, y_val=None, seed: int = 0,
              context: RunContext | None = None):
    """Fit one head per candidate of :func:`search_space`; keep the best on the validation speakers.

    Parameters
    ----------
    config : QserConfig
        ``head``, ``train`` and ``reduce.n_qubits`` (what ``mlp-matched`` matches).
    X, y : np.ndarray [shape=(n, n_qubits)], [shape=(n,)]
        The split's training rows (reduced) and labels.
    X_val, y_val : np.ndarray or None
        Its validation rows: early stopping and the choice. Without them there is nothing to
        choose on, so the config's own values are used (one trial).
    seed : int, default=0
        The same seed for every candidate (same initial weights where the shapes agree).
    context : RunContext, optional
        Events: ``epoch`` ones live when there is one candidate (``train.tune=false``); with a search,
        replayed for the chosen trial's epochs once the search is over (so a run record holds one
        curve per fold, not one per candidate). ``trial`` ones (payload: a :class:`SearchEvent`) live,
        when each candidate starts and after each of its epochs: what a person watching the search
        sees (candidate k / n, its settings, epoch, best validation UA so far).
        Its cancel token stops the trial in progress and the search. The best candidate finished so
        far is kept (or, when the first one was stopped, its best epoch so far); ``tuning.stopped``
        says where the search was cut and the kept head's ``history_.cancelled`` is True, so it is
        recorded as stopped.

    Returns
    -------
    head : ClassicalHead or QuantumHead
        The chosen candidate, fitted (not refitted: each trial is kept until a better one comes).
    tuning : Tuning

    Raises
    ------
    TrainingCancelled
        Cancelled before any trial finished an epoch.
    """
    from qser_core.heads.factory import make_head

    context = RunContext.of(context)
    space = search_space(config) if X_val is not None and len(X_val) else [{}]
    best, best_ua, trials, stopped, chosen_k = None, -np.inf, [], None, 0
    for k, overrides in enumerate(space, start=1):
        if context.cancelled and best is not None:
            stopped = {"candidate": k, "of": len(space), "overrides": dict(overrides), "epoch": 0}
            break
        trial_config = _apply(config, overrides)
        head = make_head(trial_config.head, trial_config.train, n_qubits=config.reduce.n_qubits, seed=seed)
        trial, announce = _live(context, len(space) == 1, k, len(space), overrides,
                                best_ua if best is not None else np.nan)
        announce(None)  # the candidate starts (no epoch log yet)
        try:
            # one candidate: its epochs reach the caller live; several: the chosen one's are replayed below
            head.fit(X, y, X_val=X_val, y_val=y_val, context=trial)
        except TrainingCancelled:
            if best is None:
                raise
            stopped = {"candidate": k, "of": len(space), "overrides": dict(overrides), "epoch": 0}
            break
        ua = float(head.history_.best_score) if X_val is not None and len(X_val) else float("nan")
        trials.append(Trial(overrides=dict(overrides), val_ua=ua, epochs=len(head.history_.epochs)))
        if best is None or ua > best_ua:
            best, best_ua, chosen, chosen_k = head, ua, dict(overrides), k
        if head.history_.cancelled:
            stopped = {"candidate": k, "of": len(space), "overrides": dict(overrides),
                       "epoch": len(head.history_.epochs)}
            break
    if best is None:  # pragma: no cover - make_head/fit raise before this
        raise TrainingCancelled("tuning was cancelled before any candidate trained; start the run again")
    if stopped is not None:
        stopped["chosen_candidate"] = chosen_k
        best.history_.cancelled = True  # the head is a partial result: recorded as stopped, never as finished
    if len(space) > 1:
        for log in best.history_.epochs:
            context.emit(Event("epoch", payload=log))
    return best, Tuning(head=config.head.kind, chosen=chosen, trials=trials, stopped=stopped)


def _live(context: RunContext, live: bool, k: int, n: int, overrides: dict[str, Any],
          best_before: float):
    """Candidate ``k``'s context (each epoch goes on to the caller if ``live``, and as a ``trial`` event)
    and ``announce(epoch_log)``, which sends that ``trial`` event (``None``: the candidate starts)."""
    best = [best_before]

    def announce(log) -> None:
        context.emit(Event("trial", payload=SearchEvent(candidate=k, n_candidates=n, overrides=dict(overrides),
                                                        epoch_log=log, best_val_ua=float(best[0]))))

    def on_event(event: Event) -> None:
        if event.kind != "epoch":
            context.emit(event)
            return
        if live:
            context.emit(event)
        log = event.payload
        if not np.isnan(log.val_ua):
            best[0] = log.val_ua if np.isnan(best[0]) else max(best[0], log.val_ua)
        announce(log)
    return context.replace(on_event=on_event), announce

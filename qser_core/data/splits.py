"""Speaker-disjoint train/validation/test splits and cross-validation folds, stratified by emotion.

:func:`split_by_speaker` and :func:`speaker_folds` never put one speaker in two parts; both are
re-exported by :mod:`qser_core.data.corpus`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qser_core.errors import DataError

__all__ = [
    "Split",
    "split_by_speaker",
    "speaker_folds",
]


@dataclass
class Split:
    """Row positions into a corpus table; the three parts share no speaker.

    ``val`` is empty when no validation share was asked for.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _group_parts(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int, *,
                 n_candidates: int = 4) -> list[np.ndarray]:
    """Row positions of each part of a stratified, group-disjoint K-fold split.

    Hand-written on purpose: sklearn's ``StratifiedGroupKFold(shuffle=True)`` only shuffles groups
    that tie on the spread of their class counts, so on real corpora (EmoDB: every seed alike) the
    seed does not change the folds. This keeps its greedy rule (each speaker joins the part that
    keeps per-emotion shares most even, measured as in sklearn: mean over classes of the std of
    each part's share of the class; ties go to the smaller part), visits speakers largest first
    with a seeded ±30 % jitter, and keeps the most even of ``n_candidates`` seeded assignments.
    Every part gets at least one speaker.
    """
    rng = np.random.default_rng(seed)
    _, y_inv = np.unique(y, return_inverse=True)
    _, g_inv = np.unique(groups, return_inverse=True)
    counts = np.zeros((g_inv.max() + 1, y_inv.max() + 1))
    np.add.at(counts, (g_inv, y_inv), 1)
    totals = counts.sum(axis=0)
    best, best_score = None, np.inf
    for _ in range(n_candidates):
        assign = _greedy_assign(counts, totals, n_splits, rng)
        per_part = np.stack([counts[assign == i].sum(axis=0) for i in range(n_splits)])
        score = np.mean(np.std(per_part / totals, axis=0))
        if score < best_score - 1e-12:
            best, best_score = assign, score
    return [np.flatnonzero(best[g_inv] == i) for i in range(n_splits)]


def _greedy_assign(counts: np.ndarray, totals: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Part index of each group (row of ``counts``, groups × classes), by one seeded greedy pass."""
    n_groups = len(counts)
    order = np.argsort(-counts.sum(axis=1) * rng.uniform(0.7, 1.3, n_groups), kind="stable")
    parts = np.zeros((n_splits, counts.shape[1]))
    assign = np.empty(n_groups, dtype=np.int64)
    trial = np.eye(n_splits)[:, :, None]  # trial[i] adds a group to part i only
    for left, g in zip(range(n_groups, 0, -1), order):
        empty = np.flatnonzero(parts.sum(axis=1) == 0)
        allowed = empty if left <= len(empty) else np.arange(n_splits)  # keep enough groups for empty parts
        spread = np.mean(np.std((parts[None] + trial * counts[g]) / totals, axis=1), axis=1)[allowed]
        sizes = parts.sum(axis=1)[allowed]
        pick = allowed[np.lexsort((sizes, np.round(spread, 12)))[0]]
        parts[pick] += counts[g]
        assign[g] = pick
    return assign


def _speakers_and_labels(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("speaker", "emotion") if c not in table.columns]
    if missing:
        raise DataError(f"the table lacks the column(s) {', '.join(missing)}; pass Corpus.table from index_corpus")
    return table["speaker"].astype(str).to_numpy(), table["emotion"].astype(str).to_numpy()


def _too_few(n_speakers: int, need: int, what: str, fix: str) -> DataError:
    return DataError(f"{what} needs at least {need} speakers; the corpus has {n_speakers}; {fix}")


def _share_of(share: float, n: int, *, low: int, high: int) -> int:
    """``share`` of ``n`` speakers, rounded half up (0.25 of 10 → 3) and kept within ``[low, high]``."""
    return int(min(max(math.floor(share * n + 0.5), low), high))


def _pick_speakers(y: np.ndarray, groups: np.ndarray, rows: np.ndarray, n_pick: int, seed: int, *,
                   n_candidates: int = 8) -> np.ndarray:
    """Rows of ``n_pick`` whole speakers drawn from ``rows``, their emotion mix close to that of ``rows``.

    A seeded greedy assignment: each candidate starts from a random speaker and adds, one at a time,
    the speaker that brings the part's emotion proportions closest (L1) to those of ``rows``; the
    closest of ``n_candidates`` seeded candidates is kept.
    """
    rng = np.random.default_rng(seed)
    _, y_inv = np.unique(y[rows], return_inverse=True)
    _, g_inv = np.unique(groups[rows], return_inverse=True)
    counts = np.zeros((g_inv.max() + 1, y_inv.max() + 1))
    np.add.at(counts, (g_inv, y_inv), 1)
    target = counts.sum(axis=0) / counts.sum()
    best, best_distance = None, np.inf
    for _ in range(n_candidates):
        chosen = [int(rng.integers(len(counts)))]
        while len(chosen) < n_pick:
            left = np.setdiff1d(np.arange(len(counts)), chosen)
            trial = counts[chosen].sum(axis=0) + counts[left]
            distance = np.abs(trial / trial.sum(axis=1, keepdims=True) - target).sum(axis=1)
            chosen.append(int(left[np.argmin(np.round(distance, 12))]))
        part = counts[chosen].sum(axis=0)
        distance = np.abs(part / part.sum() - target).sum()
        if distance < best_distance - 1e-12:
            best, best_distance = chosen, distance
    return rows[np.isin(g_inv, best)]


def _draw_val(y: np.ndarray, groups: np.ndarray, rest: np.ndarray, share: float, n_speakers: int,
              seed: int, *, where: str = "", fix: str = "use a corpus with more speakers") -> np.ndarray:
    """Validation rows drawn from ``rest``: whole speakers, ``share`` of all ``n_speakers`` (at least one).

    ``where`` names the part being split (e.g. which fold) and ``fix`` what to change, for the error.
    """
    n_rest = len(np.unique(groups[rest]))
    if n_rest < 2:
        where = where or f"the speakers left beside the test part ({n_rest} of {n_speakers})"
        raise DataError(f"a validation part next to the training part needs at least 2 speakers, but {where}; "
                        f"{fix} or set data.val_fraction=0")
    return _pick_speakers(y, groups, rest, _share_of(share, n_speakers, low=1, high=n_rest - 1), seed)


def split_by_speaker(table: pd.DataFrame, *, val_fraction: float = 0.15, test_fraction: float = 0.2,
                     seed: int = 0) -> Split:
    """One speaker-disjoint train/validation/test split, stratified by emotion.

    Parameters
    ----------
    table : pandas.DataFrame
        Corpus table with ``speaker`` and ``emotion`` columns.
    val_fraction : float, default=0.15
        Share of the speakers for validation (0 for none): ``val_fraction * n_speakers`` rounded half
        up, at least one.
    test_fraction : float, default=0.2
        Share of the speakers for the test part, rounded the same way (0.4 of 10 speakers → 4).
    seed : int, default=0
        Seed of the speaker assignment; the same seed gives the same split.

    Returns
    -------
    Split

    Raises
    ------
    DataError
        Fractions out of range, or too few speakers for three (two without validation) parts.

    Notes
    -----
    Each part keeps at least one speaker, so with very few speakers the shares are approximate.
    """
    groups, y = _speakers_and_labels(table)
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DataError(f"test_fraction must be in (0, 1) and val_fraction in [0, 1) with a sum below 1; "
                        f"got test_fraction={test_fraction}, val_fraction={val_fraction}")
    n_speakers = len(np.unique(groups))
    need = 3 if val_fraction > 0 else 2
    if n_speakers < need:
        what = "a speaker-disjoint train/val/test split" if val_fraction > 0 else "a speaker-disjoint train/test split"
        fix = "use a corpus with more speakers" + (" or set data.val_fraction=0" if val_fraction > 0 else "")
        raise _too_few(n_speakers, need, what, fix)
    n_test = _share_of(test_fraction, n_speakers, low=1, high=n_speakers - need + 1)
    test = np.sort(_pick_speakers(y, groups, np.arange(len(y)), n_test, seed))
    rest = np.setdiff1d(np.arange(len(y)), test)
    val = (np.sort(_draw_val(y, groups, rest, val_fraction, n_speakers, seed)) if val_fraction > 0
           else np.array([], dtype=np.int64))
    return Split(train=np.setdiff1d(rest, val).astype(np.int64), val=val.astype(np.int64), test=test.astype(np.int64))


def speaker_folds(table: pd.DataFrame, *, n_folds: int = 5, val_fraction: float = 0.15, seed: int = 0) -> list[Split]:
    """Speaker-disjoint cross-validation folds, stratified by emotion.

    Each fold's test speakers are one part of a stratified group K-fold (a seeded greedy assignment,
    see ``_group_parts``); its validation speakers (``val_fraction`` of all speakers, rounded half up,
    at least one) are drawn from the other parts by :func:`_pick_speakers`.

    Parameters
    ----------
    table : pandas.DataFrame
        Corpus table with ``speaker`` and ``emotion`` columns.
    n_folds : int, default=5
        Number of folds; every speaker is in exactly one fold's test part.
    val_fraction : float, default=0.15
        Share of all speakers for validation in each fold (0 for none).
    seed : int, default=0
        Seed of the speaker assignment.

    Returns
    -------
    list of Split
        ``n_folds`` splits.

    Raises
    ------
    DataError
        ``n_folds`` below 2, or fewer speakers than the folds need.
    """
    groups, y = _speakers_and_labels(table)
    if n_folds < 2:
        raise DataError(f"n_folds must be at least 2; got {n_folds}")
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1); got {val_fraction}")
    n_speakers = len(np.unique(groups))
    need = n_folds + (1 if val_fraction > 0 else 0)
    if n_speakers < need:
        most = n_speakers - need + n_folds
        fix = (f"lower data.n_folds (at most {most}) or use a corpus with more speakers" if most >= 2 else
               f"cross-validation needs at least {2 + need - n_folds} speakers; use a corpus with more speakers"
               + (" (or data.val_fraction=0 for one fewer)" if val_fraction > 0 else ""))
        raise _too_few(n_speakers, need, f"{n_folds} speaker-disjoint folds"
                       + (" with a validation part" if val_fraction > 0 else ""), fix)
    positions = np.arange(len(y))
    folds = []
    for i, test in enumerate(_group_parts(y, groups, n_folds, seed)):
        rest = np.setdiff1d(positions, test)
        val = (_draw_val(y, groups, rest, val_fraction, n_speakers, seed + i, where=_fold_text(i, n_folds, groups, test),
                         fix="raise data.n_folds (smaller test parts)" if n_folds < n_speakers - 1 else
                         "use a corpus with more speakers")
               if val_fraction > 0 else np.array([], dtype=np.int64))
        folds.append(Split(train=np.setdiff1d(rest, val).astype(np.int64), val=np.sort(val).astype(np.int64),
                           test=test.astype(np.int64)))
    return folds


def _fold_text(i: int, n_folds: int, groups: np.ndarray, test: np.ndarray) -> str:
    """Why fold ``i`` has too few speakers left for training and validation, for the error message."""
    speakers, sizes = np.unique(groups, return_counts=True)
    in_test = np.unique(groups[test])
    big = speakers[np.argmax(sizes)]
    return (f"fold {i + 1} of {n_folds} tests {len(in_test)} of the {len(speakers)} speakers and leaves "
            f"{len(speakers) - len(in_test)} (folds balance clips, and speaker {big} alone has {sizes.max()} of "
            f"{len(groups)} clips)")

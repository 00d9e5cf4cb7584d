"""Metrics and paired significance tests for speech emotion recognition.

``qser evaluate`` reports these; ``experiment.compare`` runs the paired tests.

* WA (weighted accuracy) = plain accuracy; UA (unweighted accuracy) = balanced accuracy,
  the mean recall over the classes present in ``y_true``; macro-F1; a 6×6 confusion matrix.
* :func:`metric_interval` / :func:`mean_ci95`: mean and Student-t 95% interval over folds × seeds,
  clipped to the metric's range and flagged (an :class:`IntervalWarning`) when clipped or backed by < 3 values.
* :func:`mcnemar` and :func:`paired_bootstrap`: are two heads different on the same test clips?
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from qser_core.config import N_CLASSES
from qser_core.errors import DataError

__all__ = ["classification_metrics", "metric_interval", "mean_ci95", "IntervalWarning", "MIN_INTERVAL_VALUES", "mcnemar", "paired_bootstrap", "N_CLASSES"]

EXACT_MCNEMAR_BELOW = 25  # b + c below this: exact binomial test (chi² approximation is poor)


def _labels(y_true, *preds, names=("y_true", "pred_a", "pred_b")) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(a) for a in (y_true, *preds)]
    for name, a in zip(names, arrays):
        if a.ndim != 1:
            raise DataError(f"{name} must be a 1-D array of labels; got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise DataError(f"{name} must hold integer labels 0..5; got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= N_CLASSES):
            raise DataError(f"{name} must hold labels 0..5; got values from {a.min()} to {a.max()}")
    if len({len(a) for a in arrays}) != 1:
        raise DataError(f"label arrays must have equal lengths; got {[len(a) for a in arrays]}")
    if len(arrays[0]) == 0:
        raise DataError("label arrays are empty; pass at least one prediction")
    return tuple(a.astype(np.int64) for a in arrays)


def classification_metrics(y_true, y_pred) -> dict:
    """WA, UA, macro-F1 and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like [shape=(n,)]
        Integer labels 0..5.

    Returns
    -------
    dict
        ``wa`` (accuracy), ``ua`` (balanced accuracy over the classes present in ``y_true``),
        ``macro_f1`` (over the classes present in ``y_true``), ``confusion`` (6×6 nested list,
        rows = true class, columns = predicted).

    Examples
    --------
    >>> m = classification_metrics([0, 0, 0, 1], [0, 0, 1, 1])
    >>> m["wa"], round(m["ua"], 4)
    (0.75, 0.8333)
    """
    y_true, y_pred = _labels(y_true, y_pred, names=("y_true", "y_pred"))
    present = np.unique(y_true)
    with warnings.catch_warnings():  # predicted classes absent from y_true are expected here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        ua = float(balanced_accuracy_score(y_true, y_pred))
    return {
        "wa": float(accuracy_score(y_true, y_pred)),
        "ua": ua,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "confusion": confusion_matrix(y_true, y_pred, labels=np.arange(N_CLASSES)).tolist(),
    }


class IntervalWarning(UserWarning):
    """An interval rests on fewer than :data:`MIN_INTERVAL_VALUES` values, or was clipped to the metric's range."""


#: Fewer values than this behind a 95% interval give an :class:`IntervalWarning`.
MIN_INTERVAL_VALUES = 3


def metric_interval(values, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> dict:
    """Mean and Student-t 95% interval of a metric, kept inside the metric's range and flagged.

    With few folds × seeds the t-interval of a score near 0 or 1 reaches outside ``[0, 1]``
    (2 folds: macro-F1 ``0.300 [-0.054, 0.653]``); it is clipped to ``bounds`` and flagged.

    Parameters
    ----------
    values : array-like [shape=(n,)]
        One score per fold × seed.
    bounds : (float, float) or None, default=(0.0, 1.0)
        The metric's range (UA, WA and macro-F1 lie in [0, 1]); ``None`` for no clipping.

    Returns
    -------
    dict
        ``mean``, ``low``, ``high``, ``n`` (values behind the interval), ``clipped`` (the t-interval
        left ``bounds``) and ``note`` (empty, or why the interval deserves caution).

    Raises
    ------
    DataError
        No values, non-finite values, or values outside ``bounds``.

    Examples
    --------
    >>> r = metric_interval([0.1, 0.5])
    >>> round(r["mean"], 2), r["low"], r["clipped"], r["n"]
    (0.3, 0.0, True, 2)
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise DataError("an interval needs at least one value; got none")
    if not np.isfinite(v).all():
        raise DataError(f"an interval needs finite values; got {v.tolist()}")
    if bounds is not None and (v.min() < bounds[0] or v.max() > bounds[1]):
        raise DataError(f"values must lie in [{bounds[0]}, {bounds[1]}]; got {v.min()} to {v.max()}")
    mean = float(v.mean())
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
    low, high = mean - half, mean + half
    clipped = bounds is not None and (low < bounds[0] or high > bounds[1])
    if clipped:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    notes = []
    if v.size < MIN_INTERVAL_VALUES:
        notes.append(f"only {v.size} value{'s' if v.size > 1 else ''} behind this 95% interval (at least "
                     f"{MIN_INTERVAL_VALUES} needed for a meaningful one); use more folds or seeds")
    if clipped:
        notes.append(f"the t-interval left [{bounds[0]:g}, {bounds[1]:g}] and was clipped to it")
    return {"mean": mean, "low": float(low), "high": float(high), "n": int(v.size), "clipped": bool(clipped),
            "note": "; ".join(notes)}


def mean_ci95(values, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> tuple[float, float, float]:
    """Mean and Student-t 95% confidence interval, kept inside ``bounds`` (see :func:`metric_interval`).

    Parameters
    ----------
    values : array-like [shape=(n,)]
        One score per fold × seed.
    bounds : (float, float) or None, default=(0.0, 1.0)
        The metric's range; ``None`` for an unclipped interval.

    Returns
    -------
    (mean, low, high) : tuple of float
        A single value gives ``(v, v, v)``. An :class:`IntervalWarning` says when fewer than 3
        values back the interval or it was clipped.

    Examples
    --------
    >>> tuple(round(v, 3) for v in mean_ci95([1.0, 2.0, 3.0], bounds=None))
    (2.0, -0.484, 4.484)
    """
    r = metric_interval(values, bounds=bounds)
    if r["note"]:
        warnings.warn(r["note"], IntervalWarning, stacklevel=2)
    return r["mean"], r["low"], r["high"]


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """McNemar's test of two classifiers on the same samples.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like [shape=(n,)]

    Returns
    -------
    dict
        ``b`` (A right, B wrong), ``c`` (A wrong, B right), ``statistic``, ``p_value`` and
        ``method``: ``"exact"`` (two-sided binomial test, used when ``b + c < 25``; the
        statistic is ``min(b, c)``) or ``"chi2"`` (with continuity correction,
        ``(|b - c| - 1)² / (b + c)``).

    Examples
    --------
    >>> r = mcnemar([0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0])
    >>> r["b"], r["c"], r["method"], r["p_value"]
    (2, 1, 'exact', 1.0)
    """
    y_true, pred_a, pred_b = _labels(y_true, pred_a, pred_b)
    ok_a, ok_b = pred_a == y_true, pred_b == y_true
    b, c = int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b))
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0, "method": "exact"}
    if b + c < EXACT_MCNEMAR_BELOW:
        p = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
        return {"b": b, "c": c, "statistic": float(min(b, c)), "p_value": float(min(p, 1.0)), "method": "exact"}
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(stat), "p_value": float(stats.chi2.sf(stat, 1)), "method": "chi2"}


def _batched_scores(y: np.ndarray, pred: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` of each row of ``(n_boot, n)`` label matrices, vectorised."""
    hit = pred == y
    if metric == "wa":
        return hit.mean(axis=1)
    rows = np.arange(y.shape[0])[:, None]
    support = np.zeros((y.shape[0], N_CLASSES))
    np.add.at(support, (rows, y), 1)
    if metric == "ua":
        hits = np.zeros_like(support)
        np.add.at(hits, (rows, y), hit)
        present = support > 0
        recall = np.divide(hits, support, out=np.zeros_like(hits), where=present)
        return recall.sum(axis=1) / present.sum(axis=1)
    # macro-F1 over the classes present in y
    tp = np.zeros_like(support)
    np.add.at(tp, (rows, y), hit)
    predicted = np.zeros_like(support)
    np.add.at(predicted, (rows, pred), 1)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    return (f1 * present).sum(axis=1) / present.sum(axis=1)


def paired_bootstrap(y_true, pred_a, pred_b, *, metric: str = "ua", n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired bootstrap of the metric difference A − B over resampled test clips.

    Parameters
    ----------
    y_true, pred_a, pred_b : array-like [shape=(n,)]
    metric : {"ua", "wa", "macro_f1"}, default="ua"
    n_boot : int, default=2000
        Resamples (all drawn and scored at once, no Python loop over resamples).
    seed : int, default=0

    Returns
    -------
    dict
        ``diff`` (metric(A) − metric(B) on the full set), ``ci95`` (percentile interval of
        the resampled differences), ``p_value`` (two-sided: twice the smaller share of
        resampled differences on either side of 0, at most 1), ``n_boot``, ``metric``.
    """
    y_true, pred_a, pred_b = _labels(y_true, pred_a, pred_b)
    if metric not in ("ua", "wa", "macro_f1"):
        raise DataError(f"metric must be one of ua, wa, macro_f1; got {metric!r}")
    if int(n_boot) < 10:
        raise DataError(f"n_boot must be at least 10; got {n_boot!r}")
    rng = np.random.default_rng(seed)
    n = len(y_true)
    idx = rng.integers(0, n, size=(int(n_boot), n))
    y_b = y_true[idx]
    diffs = _batched_scores(y_b, pred_a[idx], metric) - _batched_scores(y_b, pred_b[idx], metric)
    full = float(
        _batched_scores(y_true[None], pred_a[None], metric)[0] - _batched_scores(y_true[None], pred_b[None], metric)[0]
    )
    low, high = np.percentile(diffs, [2.5, 97.5])
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {"diff": full, "ci95": (float(low), float(high)), "p_value": float(p), "n_boot": int(n_boot), "metric": metric}

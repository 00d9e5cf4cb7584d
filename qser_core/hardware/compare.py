"""Scores of one target (ideal, noisy, hardware) and agreement between two, clip by clip.

``qser hardware run --json`` prints these: ``ua``, ``wa``, ``macro_f1`` with 95% intervals and
``jobs`` for each target, and the agreement of each target with the ideal simulation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qser_core.errors import DataError
from qser_core.experiments.metrics import classification_metrics, mcnemar

__all__ = ["TARGETS", "logits", "target_scores", "bootstrap_ci95", "agreement"]

#: The three ways a head can run, in the order every table shows them.
TARGETS = ("ideal", "noisy", "hardware")


def logits(expvals, readout_weight, readout_bias) -> np.ndarray:
    """The head's final linear layer on ⟨Z⟩: ``expvals @ W.T + b`` ``[shape=(n, 6)]``."""
    expvals = np.asarray(expvals, dtype=float)
    return expvals @ np.asarray(readout_weight, dtype=float).T + np.asarray(readout_bias, dtype=float)


def bootstrap_ci95(y_true, y_pred, *, n_boot: int = 1000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile 95% intervals of UA, WA and macro-F1 over clips resampled with replacement.

    One test set gives one score; the interval says how much it would move on another draw of
    clips from the same speakers (it does not cover other speakers). All resamples are scored at
    once by the vectorised scorer of the paired bootstrap (:mod:`qser_core.experiments.metrics`).
    """
    from qser_core.experiments.metrics import _batched_scores

    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    rows = np.random.default_rng(seed).integers(0, len(y_true), size=(int(n_boot), len(y_true)))
    out = {}
    for metric in ("ua", "wa", "macro_f1"):
        low, high = np.percentile(_batched_scores(y_true[rows], y_pred[rows], metric), [2.5, 97.5])
        out[metric] = (float(low), float(high))
    return out


def target_scores(y_true, expvals, readout_weight, readout_bias, *, jobs: int, n_boot: int = 1000) -> dict[str, Any]:
    """Predictions and scores of one target from its ⟨Z⟩ values.

    Returns
    -------
    dict
        ``y_pred`` (list), ``ua``, ``wa``, ``macro_f1``, ``ua_ci95``, ``wa_ci95``, ``macro_f1_ci95``,
        ``confusion`` (6×6), ``jobs`` (primitive jobs this target used; 0 for the exact simulation).
    """
    expvals = np.asarray(expvals, dtype=float)
    if expvals.ndim != 2 or len(expvals) != len(y_true):
        raise DataError(f"expvals must have one row per clip ({len(y_true)}); got shape {expvals.shape}")
    y_pred = logits(expvals, readout_weight, readout_bias).argmax(axis=1)
    metrics = classification_metrics(y_true, y_pred)
    intervals = bootstrap_ci95(y_true, y_pred, n_boot=n_boot)
    return {"y_pred": y_pred.tolist(), **{k: metrics[k] for k in ("ua", "wa", "macro_f1")},
            **{f"{k}_ci95": v for k, v in intervals.items()}, "confusion": metrics["confusion"], "jobs": int(jobs)}


def agreement(y_true, a: dict[str, Any], b: dict[str, Any], expvals_a, expvals_b) -> dict[str, Any]:
    """How alike two targets are on the same clips.

    Parameters
    ----------
    y_true : array-like [shape=(n,)]
    a, b : dict
        :func:`target_scores` of the two targets.
    expvals_a, expvals_b : array-like [shape=(n, n_qubits)]

    Returns
    -------
    dict
        ``agreement`` (share of clips with the same prediction), ``zcorr`` (Pearson correlation of
        all ⟨Z⟩ values), ``zmad`` (mean absolute difference of ⟨Z⟩), ``mcnemar`` (on correctness).
    """
    za, zb = np.asarray(expvals_a, dtype=float).ravel(), np.asarray(expvals_b, dtype=float).ravel()
    if za.shape != zb.shape:
        raise DataError(f"the two targets ran different clips or qubits: {za.shape} vs {zb.shape} values")
    pa, pb = np.asarray(a["y_pred"]), np.asarray(b["y_pred"])
    corr = float(np.corrcoef(za, zb)[0, 1]) if za.std() > 0 and zb.std() > 0 else float("nan")
    return {"agreement": float(np.mean(pa == pb)), "zcorr": corr, "zmad": float(np.mean(np.abs(za - zb))),
            "mcnemar": mcnemar(y_true, pa, pb)}

"""Readout recalibration: refit only the head's final linear layer on noisy ⟨Z⟩ values.

``qser hardware run --model DIR --backend ibm_brisbane --fake --recalibrate 120``.

Noise shrinks every ⟨Z_q⟩ toward 0 (depolarising and readout errors scale it by a factor below one,
different per qubit), so a readout trained on ideal values sees inputs that are too small and
shifted. The circuit stays as trained; the ``Linear(n_qubits, 6)`` readout is refitted on ⟨Z⟩ of
training-speaker clips that ran in the SAME job as the test clips (same calibration, no extra job).
The refit is scikit-learn's multinomial logistic regression — the same model as a linear layer with
softmax and cross-entropy — warm-started from nothing but regularised toward small weights, so a
handful of clips per class cannot overfit badly.
"""

from __future__ import annotations

import numpy as np

from qser_core.errors import DataError

__all__ = ["refit_readout"]


def refit_readout(expvals, y, *, init=None, C: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Refit ``W [6, n_qubits]`` and ``b [6]`` of the readout on noisy ⟨Z⟩ and true labels.

    Parameters
    ----------
    expvals : array-like [shape=(n, n_qubits)]
        Noisy ⟨Z⟩ of training clips.
    y : array-like [shape=(n,)]
        Their labels 0..5.
    init : tuple of np.ndarray, optional
        The trained readout ``(W, b)``; rows of classes absent from ``y`` are kept from it.
    C : float, default=1.0
        Inverse L2 strength of the logistic regression.
    seed : int, default=0

    Returns
    -------
    weight : np.ndarray [shape=(6, n_qubits)]
    bias : np.ndarray [shape=(6,)]

    Raises
    ------
    DataError
        With fewer than two classes or mismatched lengths.
    """
    from sklearn.linear_model import LogisticRegression

    X, y = np.asarray(expvals, dtype=float), np.asarray(y, dtype=int)
    if X.ndim != 2 or len(X) != len(y):
        raise DataError(f"recalibration needs one ⟨Z⟩ row per label; got {X.shape} values and {y.shape} labels")
    classes = np.unique(y)
    if len(classes) < 2:
        raise DataError(f"recalibration needs clips of at least two emotions; got {len(classes)}. "
                        "Ask for more recalibration clips")
    fit = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(X, y)
    weight = np.array(init[0], dtype=float, copy=True) if init is not None else np.zeros((6, X.shape[1]))
    bias = np.array(init[1], dtype=float, copy=True) if init is not None else np.full(6, -1e3)
    if init is not None:
        bias[:] = -1e3  # classes never seen in the refit are never predicted: their old scale no longer fits
    coef, intercept = fit.coef_, fit.intercept_
    if len(classes) == 2:  # binary sklearn stores one row: class 1 against class 0
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weight[classes], bias[classes] = coef, intercept
    return weight, bias

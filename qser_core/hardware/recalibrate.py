"""Readout recalibration: refit only the head's final linear layer on noisy ⟨Z⟩ values.

``qser hardware run --model DIR --backend ibm_fez --fake --recalibrate 120``.

Noise shrinks every ⟨Z_q⟩ toward 0 (depolarising and readout errors scale it by a factor below one,
different per qubit), so a readout trained on ideal values sees inputs that are too small and
shifted. The circuit stays as trained; the ``Linear(n_qubits, 6)`` readout is refitted on ⟨Z⟩ of
training-speaker clips that ran in the SAME job as the test clips (same calibration, no extra job).
The refit trains that ``nn.Linear`` again — cross-entropy, full-batch L-BFGS — starting from the
trained weights and pulled toward them by an L2 penalty, so a few clips per class adjust the readout
rather than replace it (a fresh logistic regression on 20 clips lost UA in our demo runs).
"""

from __future__ import annotations

import numpy as np

from qser_core.errors import DataError

__all__ = ["refit_readout"]


def refit_readout(expvals, y, *, init, strength: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Refit ``W [6, n_qubits]`` and ``b [6]`` of the readout on noisy ⟨Z⟩ and true labels.

    Parameters
    ----------
    expvals : array-like [shape=(n, n_qubits)]
        Noisy ⟨Z⟩ of training clips.
    y : array-like [shape=(n,)]
        Their labels 0..5.
    init : tuple of np.ndarray
        The trained readout ``(W, b)``: the starting point and the anchor of the penalty.
    strength : float, default=0.5
        Weight of ``(‖W − W₀‖² + ‖b − b₀‖²) / n`` against the mean cross-entropy (more clips, weaker pull).
    seed : int, default=0

    Returns
    -------
    weight : np.ndarray [shape=(6, n_qubits)]
    bias : np.ndarray [shape=(6,)]

    Raises
    ------
    DataError
        With mismatched lengths or clips of fewer than two emotions.

    Examples
    --------
    >>> z = np.array([[0.1, 0.0], [-0.1, 0.0], [0.12, 0.01], [-0.09, 0.0]])
    >>> w, b = refit_readout(z, [0, 1, 0, 1], init=(np.zeros((6, 2)), np.zeros(6)))
    >>> bool(w[0, 0] > 0 > w[1, 0])
    True
    """
    import torch

    X, y = np.asarray(expvals, dtype=float), np.asarray(y, dtype=int)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise DataError(f"recalibration needs one ⟨Z⟩ row per label; got {X.shape} values and {y.shape} labels")
    if len(np.unique(y)) < 2:
        raise DataError(f"recalibration needs clips of at least two emotions; got {len(np.unique(y))}. "
                        "Ask for more recalibration clips")
    torch.manual_seed(seed)
    w0, b0 = (torch.as_tensor(np.asarray(a, dtype=float)) for a in init)
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(y)
    optimizer = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(X_t @ w.T + b, y_t)
        loss = loss + strength / len(X) * ((w - w0).pow(2).sum() + (b - b0).pow(2).sum())
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach().numpy().copy(), b.detach().numpy().copy()

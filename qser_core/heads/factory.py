"""The head the config describes: :func:`make_head`.

``qser evaluate --set head.kind=mlp-matched`` ends here to build the estimator of each fold.
"""

from __future__ import annotations

from qser_core.config import HEAD_KINDS, HeadConfig, TrainConfig
from qser_core.errors import ConfigError
from qser_core.heads.base import BaseTorchHead
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.classical import ClassicalHead
from qser_core.heads.executors import check_executor
from qser_core.heads.quantum import QuantumHead, quantum_param_count

__all__ = ["make_head"]


def make_head(head: HeadConfig, train: TrainConfig, *, n_qubits: int, seed: int) -> BaseTorchHead:
    """The estimator the config describes (classical or quantum), unfitted.

    Parameters
    ----------
    head : HeadConfig
        ``kind``, circuit settings and ``hidden``.
    train : TrainConfig
        Optimiser and early-stopping settings (``seeds`` is ignored; pass ``seed``).
    n_qubits : int
        Input features (= qubits of the quantum head; also what ``mlp-matched`` matches).
    seed : int
        Seed of weight initialisation and minibatch order.

    Returns
    -------
    ClassicalHead or QuantumHead
    """
    common = dict(epochs=train.epochs, lr=train.lr, batch_size=train.batch_size, patience=train.patience,
                  weight_decay=train.weight_decay, seed=seed)
    if head.kind not in HEAD_KINDS:
        raise ConfigError(f"head.kind must be one of {', '.join(HEAD_KINDS)}; got {head.kind!r}")
    if head.kind == "quantum":
        check_executor(head.executor)  # now, not after the features are ready
        return QuantumHead(n_layers=head.n_layers, encoding=head.encoding, ansatz=head.ansatz,
                           executor=head.executor, noise_aware=head.noise_aware, noise_backend=head.noise_backend,
                           noise_scale=head.noise_scale, noise_shots=head.noise_shots, **common)
    target = None
    if head.kind == "mlp-matched":
        target = quantum_param_count(CircuitSpec(n_qubits, head.n_layers, encoding=head.encoding, ansatz=head.ansatz))
    return ClassicalHead(head.kind, hidden=head.hidden, target_params=target, **common)

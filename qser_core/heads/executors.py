"""Executors: named ways to run a :class:`~qser_core.heads.circuits.CircuitSpec`.

``qser evaluate --set head.executor=lightning.qubit`` trains the quantum head with the adjoint method.

An executor maps ``(angles [shape=(n, n_qubits)], weights [shape=spec.weight_shape])`` to
``⟨Z_q⟩ [shape=(n, n_qubits)]``, differentiably where the backend allows. The quantum head asks
:func:`get_executor` for one by name and never branches on names, so a new backend (a noisy
simulator, IBM hardware) is one :func:`register_executor` call and no change to the head.

Built in
--------
* ``torch``: the batched torch statevector (:class:`~qser_core.heads.simulator.TorchStatevector`),
  the fastest for training; option ``dtype`` (``torch.complex64`` or ``torch.complex128``).
* ``default.qubit``: PennyLane's ``default.qubit`` with backprop and parameter broadcasting, the reference.
* ``lightning.qubit``: PennyLane Lightning (C++) with the adjoint method.

Registering by import path (``"package.module:attribute"``) resolves the factory on first use; other
stages and packages register through entry points (:data:`ENTRY_POINT_GROUPS`), so a name exists in every
process (fold workers included) without importing its module first, and this stage never imports a later one.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Union

import torch
from torch import nn

from qser_core.errors import ConfigError, DataError
from qser_core.heads.circuits import CircuitSpec
from qser_core.heads.simulator import TorchStatevector

__all__ = ["Executor", "QNodeExecutor", "register_executor", "get_executor", "executor_names", "check_executor"]

#: ``factory(spec, **options)`` → callable ``(angles, weights) -> ⟨Z⟩``.
ExecutorFactory = Callable[..., Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

_REGISTRY: dict[str, Union[ExecutorFactory, str]] = {}
_TRAINABLE: dict[str, bool] = {}  # name -> whether gradients flow through it


class QNodeExecutor:
    """Run the spec as a PennyLane QNode on any device, the whole batch in one broadcast call.

    Parameters
    ----------
    spec : CircuitSpec
    device : str
        PennyLane device name (``default.qubit``, ``lightning.qubit``, ``default.mixed``, …).
    diff_method : str, default="best"
    **device_options
        Passed to ``qml.device`` (e.g. ``shots``).
    """

    def __init__(self, spec: CircuitSpec, *, device: str, diff_method: str = "best", **device_options: Any):
        self.spec, self.device, self.diff_method, self.device_options = spec, device, diff_method, device_options
        self.qnode = spec.qnode(device=device, diff_method=diff_method, interface="torch", **device_options)

    # Some devices hold native state that cannot be pickled (lightning.qubit's C++ statevector), so
    # pickles carry the recipe and the QNode is rebuilt: a fitted head moves between processes.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "qnode"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.qnode = self.spec.qnode(device=self.device, diff_method=self.diff_method, interface="torch",
                                     **self.device_options)

    def __call__(self, angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return torch.stack(list(self.qnode(angles, weights)), dim=-1)


class Executor(nn.Module):
    """A registered executor bound to one circuit, with its input and output shapes checked.

    Built by :func:`get_executor`; a module (so a torch-module backend moves with its owner).

    Parameters
    ----------
    name : str
        Registry name.
    spec : CircuitSpec
    run : callable
        What the factory returned: ``run(angles, weights) -> ⟨Z⟩``.

    Examples
    --------
    >>> spec = CircuitSpec(3, 1, encoding="angle-ry", ansatz="hea")
    >>> get_executor("torch", spec)(torch.zeros(5, 3), torch.zeros(spec.weight_shape)).shape
    torch.Size([5, 3])
    """

    def __init__(self, name: str, spec: CircuitSpec, run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        super().__init__()
        self.name, self.spec, self.run = name, spec, run

    def forward(self, angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``⟨Z_q⟩ [shape=(n, n_qubits)]`` of every row of ``angles`` under ``weights``."""
        n_qubits = self.spec.n_qubits
        if angles.ndim != 2 or angles.shape[1] != n_qubits:
            raise DataError(f"angles must have shape (n, {n_qubits}) (one angle per qubit); got {tuple(angles.shape)}")
        if tuple(weights.shape) != self.spec.weight_shape:
            raise DataError(f"weights must have shape {self.spec.weight_shape} (the weight_shape of {self.spec}); "
                            f"got {tuple(weights.shape)}")
        out = self.run(angles, weights)
        if tuple(out.shape) != tuple(angles.shape):
            raise DataError(f"executor {self.name!r} must return ⟨Z⟩ of shape {tuple(angles.shape)}; "
                            f"got {tuple(out.shape)}. Fix its factory")
        return out

    def extra_repr(self) -> str:
        return f"name={self.name!r}, spec={self.spec}"


def register_executor(name: str, factory: ExecutorFactory | str, *, replace: bool = False,
                      trainable: bool = True) -> None:
    """Make ``name`` a valid ``head.executor``.

    Parameters
    ----------
    name : str
        The name configs and the quantum head use.
    factory : callable or str
        ``factory(spec, **options)`` returning ``run(angles, weights) -> ⟨Z⟩``, or its import path
        ``"package.module:attribute"`` (resolved on first :func:`get_executor`).
    replace : bool, default=False
        Allow replacing an existing registration.
    trainable : bool, default=True
        Whether gradients flow through it (a shot-based device executor scores trained weights but cannot
        train them); only trainable executors are offered for training.

    Raises
    ------
    ConfigError
        For an empty name, a factory that is neither callable nor an import path, or a name that is
        taken (without ``replace=True``).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"executor name must be a non-empty string; got {name!r}")
    if not callable(factory) and not (isinstance(factory, str) and ":" in factory):
        raise ConfigError(f"executor factory must be callable or 'module:attribute'; got {factory!r}")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"executor {name!r} is already registered; pick another name or pass replace=True")
    _REGISTRY[name] = factory
    _TRAINABLE[name] = bool(trainable)


def executor_names(*, trainable: bool = False) -> tuple[str, ...]:
    """Registered executor names, built-ins first (``trainable=True``: only those training can use)."""
    return tuple(name for name in _REGISTRY if _TRAINABLE[name] or not trainable)


def check_executor(name: str) -> str:
    """``name`` if it is registered; otherwise a :class:`ConfigError` listing the registered names."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(
            f"head.executor must be one of {', '.join(_REGISTRY)}; got {name!r}. Set head.executor, or register "
            "it with qser_core.heads.executors.register_executor"
        )
    return name


def _factory(name: str) -> ExecutorFactory:
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"executor {name!r} points to {_REGISTRY[name]!r}, which cannot be imported: {exc}. "
                              "Install what it needs or choose another head.executor") from exc
        _REGISTRY[name] = factory
    return factory


def get_executor(name: str, spec: CircuitSpec, **options: Any) -> Executor:
    """The executor ``name`` bound to ``spec``.

    Parameters
    ----------
    name : str
        One of :func:`executor_names`.
    spec : CircuitSpec
    **options
        Passed to the factory (e.g. ``dtype`` for ``torch``, ``shots`` for a device).

    Returns
    -------
    Executor

    Raises
    ------
    ConfigError
        For a name that is not registered.
    """
    return Executor(check_executor(name), spec, _factory(name)(spec, **options))


def _torch_statevector(spec: CircuitSpec, *, dtype: torch.dtype = torch.complex64) -> TorchStatevector:
    return TorchStatevector(spec, dtype=dtype)


def _default_qubit(spec: CircuitSpec, **device_options: Any) -> QNodeExecutor:
    return QNodeExecutor(spec, device="default.qubit", diff_method="backprop", **device_options)


def _lightning_qubit(spec: CircuitSpec, **device_options: Any) -> QNodeExecutor:
    return QNodeExecutor(spec, device="lightning.qubit", diff_method="adjoint", **device_options)


register_executor("torch", _torch_statevector)
register_executor("default.qubit", _default_qubit)
register_executor("lightning.qubit", _lightning_qubit)


#: Entry-point groups through which later stages and other packages add executors (``pyproject.toml``'s
#: ``[project.entry-points."qser_core.executors"]``): trainable ones, and device executors that score trained
#: weights but cannot train them (the hardware stage's ``aer.noisy``). This stage never names a later one, and
#: every process (fold workers included) sees the same names without importing their modules first.
ENTRY_POINT_GROUPS = {"qser_core.executors": True, "qser_core.device_executors": False}


def _register_entry_points() -> None:
    from importlib.metadata import entry_points

    for group, trainable in ENTRY_POINT_GROUPS.items():
        for point in entry_points(group=group):
            if point.name not in _REGISTRY:
                register_executor(point.name, point.value, trainable=trainable)


_register_entry_points()

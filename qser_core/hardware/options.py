"""Closed vocabularies and defaults of the hardware stage, importable without Qiskit.

The ``qser`` argument parser reads them for its choices and defaults, so ``qser --help`` answers
without importing Qiskit, PennyLane or torch. They live in :mod:`qser_core.config`, whose
:class:`~qser_core.config.HardwareConfig` validates against them.
"""

from qser_core.config import PRIMITIVES, READOUT_METHODS, TRANSPILE_TRIALS

__all__ = ["PRIMITIVES", "READOUT_METHODS", "TRANSPILE_TRIALS"]

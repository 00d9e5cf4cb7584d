"""Closed vocabularies and defaults of the hardware stage, importable without Qiskit.

The ``qser`` argument parser reads them for its choices and defaults, so ``qser --help`` answers
without importing Qiskit, PennyLane or torch.
"""

#: Transpiler seeds tried per export; the circuit with the fewest two-qubit gates is kept.
TRANSPILE_TRIALS = 8  # ~0.03 s per seed, once per run

#: Readout mitigation methods of the Sampler path.
READOUT_METHODS = ("none", "mthree")

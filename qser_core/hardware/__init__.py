"""The hardware stage: a trained quantum head on IBM Quantum devices and on their noise, offline.

``qser hardware backends|run|curve|status|fetch``; the dashboard's Hardware page.

Modules, in pipeline order: :mod:`~qser_core.hardware.circuit` (parameterised Qiskit export, one
transpile), :mod:`~qser_core.hardware.backends` (account, IBM and fake backends),
:mod:`~qser_core.hardware.noise` (device noise × λ for Aer), :mod:`~qser_core.hardware.estimate`
(QPU time), :mod:`~qser_core.hardware.execute` (one primitive job per evaluation set),
:mod:`~qser_core.hardware.readout` (mthree readout mitigation of the Sampler path),
:mod:`~qser_core.hardware.records` (job records in the run store), :mod:`~qser_core.hardware.recalibrate`
(readout refit on noisy ⟨Z⟩), :mod:`~qser_core.hardware.compare` (scores and agreement),
:mod:`~qser_core.hardware.evaluation` (clips and scoring) and :mod:`~qser_core.hardware.run`
(dispatch, curves, fetch).
"""

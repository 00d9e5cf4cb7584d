"""Stage 4 — experiments: how heads are trained and scored on speaker-disjoint data.

Contract, bottom up:

- :mod:`~qser_core.experiments.pipeline` — features for a config, its splits, reducer + head fitted on
  one split (the reducer on training rows only), per-clip prediction records;
- the protocols, side by side, none importing another: :mod:`~qser_core.experiments.single` (one
  split → :class:`~qser_core.experiments.model.TrainedModel`, the saved artefact),
  :mod:`~qser_core.experiments.crossval` (picklable fold tasks, folds × seeds) and
  :mod:`~qser_core.experiments.hybrid` (backbone tail + reduction + PQC end to end; the network is in
  :mod:`~qser_core.experiments.hybrid_model`);
- :mod:`~qser_core.experiments.compare` — the one comparison runner (several heads on identical inputs,
  paired tests against the quantum head) and the paired test of two recorded runs.

:mod:`~qser_core.experiments.metrics` holds UA/WA/macro-F1, intervals and paired tests.
"""

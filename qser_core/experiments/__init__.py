"""Stage 4 — experiments: how heads are trained and scored on speaker-disjoint data.

Folders, bottom up (each imports only those above it and the shared modules here):

- shared: :mod:`~qser_core.experiments.pipeline` (features for a config, its splits, reducer + head
  fitted on one split, the reducer on training rows only), :mod:`~qser_core.experiments.tuning` (the one
  search budget every head gets) and :mod:`~qser_core.experiments.metrics` (UA/WA/macro-F1, intervals,
  paired tests);
- :mod:`~qser_core.experiments.models` — what training produces: the saved
  :class:`~qser_core.experiments.models.trained.TrainedModel` (``trained``), its files without pickle
  (``storage``) and the hybrid's network (``hybrid_network``);
- :mod:`~qser_core.experiments.protocols` — how it is produced: one shared run set-up (``setup``), then the
  protocols side by side, none importing another: ``single`` (one split → a TrainedModel), ``crossval``
  (picklable fold tasks, folds × seeds), ``hybrid`` (backbone tail + reduction + PQC end to end), and
  ``compare`` (several heads on identical inputs, paired tests against the quantum head);
- :mod:`~qser_core.experiments.sweeps` — grids of configurations × folds × seeds: the ``grid``, the
  resumable ``store``, the Ray tasks (``ray_tasks``) and the ``runner`` that summarises them.
"""

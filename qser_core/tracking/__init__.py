"""Run records (MLflow): where runs are stored, how they are written, how they are read back.

Contract: every experiment is one run holding its full config (``config.toml``), metrics, per-clip
predictions and artefacts. :mod:`~qser_core.tracking.store` opens the store (once, under a file lock,
failing fast on a damaged, locked or unreachable one); :mod:`~qser_core.tracking.recorder` writes runs
(:func:`track_run`, child runs via ``parent_run_id``, :func:`reopen_run` to add results later);
:mod:`~qser_core.tracking.reader` lists and loads them (:func:`list_runs`, :func:`load_run`,
:func:`resolve_run_id` for unique id prefixes). Results a failing store refused are kept in
``unsaved-runs/`` beside it (:mod:`~qser_core.tracking.unsaved`, ``qser runs import``).
"""

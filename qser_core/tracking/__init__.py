"""Run records (MLflow): where runs are stored, how they are written, how they are read back.

Contract: every experiment is one run holding its full config (``config.toml``), metrics, per-clip
predictions and artefacts; :mod:`~qser_core.tracking.recorder` writes runs and
:mod:`~qser_core.tracking.reader` lists and loads them.
"""

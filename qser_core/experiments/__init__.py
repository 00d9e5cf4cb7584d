"""Stage 4 protocols — how heads are trained and scored on speaker-disjoint data.

Contract: a pipeline layer (features for a config, splits, reducer + head fitted on one split,
per-clip prediction records) sits below the protocols; the protocols (single split, cross-validation,
hybrid end to end) stand side by side above it and none imports another. :mod:`~qser_core.experiments.metrics`
holds UA/WA/macro-F1, intervals and paired tests.
"""

"""Experiment protocols: one run set-up (:mod:`.setup`) shared by the single split, cross-validation, the hybrid and
the comparison of heads on identical inputs."""

"""Small inputs for the protocol tests: a slice of the demo corpus's cached embeddings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qser_core.experiments.pipeline import FeatureSet


@pytest.fixture(scope="session")
def small_config(demo_fast_config):
    """4 qubits, 3 epochs, 3 folds, seeds 0 and 1."""
    return demo_fast_config.with_overrides(["train.epochs=3", "train.patience=3", "reduce.n_qubits=4",
                                            "train.seeds=0,1"])


@pytest.fixture(scope="session")
def small_features(demo_fast_features) -> FeatureSet:
    """Six demo speakers × two sentences × six emotions (72 clips) with their cached embeddings."""
    table = demo_fast_features.table
    speakers = sorted(table["speaker"].unique())[:6]
    sentences = sorted(table["sentence"].unique())[:2]
    keep = np.flatnonzero(table["speaker"].isin(speakers) & table["sentence"].isin(sentences))
    corpus = dataclasses.replace(demo_fast_features.corpus, table=table.iloc[keep].reset_index(drop=True))
    return FeatureSet(corpus=corpus, embeddings=demo_fast_features.embeddings[keep],
                      labels=demo_fast_features.labels[keep])


@pytest.fixture(scope="session")
def perturb():
    """``perturb(features, rows)``: ``features`` with large noise on the embeddings of ``rows`` only."""
    def perturbed(features: FeatureSet, rows: np.ndarray, *, seed: int = 0) -> FeatureSet:
        embeddings = features.embeddings.copy()
        noise = np.random.default_rng(seed).normal(0.0, 50.0, (len(rows), embeddings.shape[1]))
        embeddings[rows] += noise.astype(embeddings.dtype)
        return dataclasses.replace(features, embeddings=embeddings)

    return perturbed


@pytest.fixture(scope="session")
def same_reducer():
    """``same_reducer(a, b)``: whether two fitted QubitReducers are the same map, bit for bit."""
    def same(a, b) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(a.affine(), b.affine()))

    return same

"""Fixtures shared by the cache and extraction tests: short settings and a table of tone clips."""

from __future__ import annotations

import pandas as pd
import pytest

from factories import write_tone
from qser_core.config import QserConfig

#: Clips in the tone table.
N_CLIPS = 7


@pytest.fixture
def config(tmp_path):
    """Half-second clips keep the CNN fast; batch size 3 exercises several batches; a cache of the test's own."""
    return QserConfig().with_overrides(
        ["audio.duration=0.5", "embedding.batch_size=3", f"embedding.cache_dir={tmp_path / 'cache'}"]
    )


@pytest.fixture
def table(tmp_path):
    """``N_CLIPS`` distinct tone clips (the embedding tests' corpus table)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    paths = [write_tone(folder / f"clip{i:02d}.wav", 150 + 90 * i, seed=i) for i in range(N_CLIPS)]
    return pd.DataFrame({"path": paths, "emotion": ["NEU"] * N_CLIPS})

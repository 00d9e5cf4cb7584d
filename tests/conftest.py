"""Shared test fixtures.

Every test session gets its own ``QSER_HOME`` (caches, demo corpus, run records)
unless one is set already (CI sets it inside the clone so the demo corpus and
embeddings are made once per run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

EMODB_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "audio"


def pytest_configure(config):
    if "QSER_HOME" not in os.environ:
        import tempfile

        os.environ["QSER_HOME"] = tempfile.mkdtemp(prefix="qser-test-home-")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def qser_home() -> Path:
    """The session's QSER_HOME folder."""
    return Path(os.environ["QSER_HOME"])


@pytest.fixture(scope="session")
def emodb_audio() -> Path:
    """Real speech (EmoDB) beside the project; tests that need it skip where it is absent."""
    if not EMODB_AUDIO.is_dir():
        pytest.skip(f"real-speech folder {EMODB_AUDIO} is absent")
    return EMODB_AUDIO

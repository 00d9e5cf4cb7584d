"""Fixtures of the dashboard tests (helpers live in app_harness.py)."""

from __future__ import annotations

import pytest

import app_harness  # noqa: F401  (puts the repo root on sys.path for app_support)


@pytest.fixture(autouse=True)
def _navigation_app(monkeypatch):
    """Work around an AppTest quirk with ``st.navigation`` apps that keep their pages in ``pages/``.

    AppTest resets ``PagesManager.uses_pages_directory`` before every run; the new PagesManager then
    sees the ``pages/`` folder and, from the second run on, executes the page file alone (legacy
    multipage mode) instead of ``app.py`` — no router, no sidebar. A real server sets the flag to
    False once ``st.navigation`` has run (``streamlit/commands/navigation.py``) and keeps it; this
    fixture gives AppTest that same state.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(scope="session")
def demo_config():
    """Small, fast settings on the demo corpus (what the app tests put in the session).

    No hyperparameter search (``train.tune=false``): the pages' live curves and Stop are tested on one fit per
    head; the search itself is tested in tests/experiments/test_tuning.py.
    """
    from qser_core.config import QserConfig

    return QserConfig().with_overrides(["reduce.n_qubits=4", "head.n_layers=1", "train.epochs=2", "data.n_folds=2",
                                        "train.tune=false"])

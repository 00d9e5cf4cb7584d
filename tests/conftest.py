"""Shared test fixtures and the two test tiers.

``python -m pytest`` runs the fast tier (``-m "not slow"`` in pyproject's addopts): unit tests, AppTests and the
quick paths, on a small demo corpus (``QSER_DEMO_SPEAKERS=6``: 432 clips instead of 864) and one torch thread.
``python -m pytest -m slow`` runs the rest. A test is slow automatically when it uses what makes tests slow
(:func:`pytest_collection_modifyitems`): a local Ray (``local_ray``), real speech (``emodb_audio``), a fresh
interpreter (``subprocess`` or ``sys.executable`` in the test or in a helper of its module it calls: every
``qser`` subprocess pays the imports again) or a browser (``browser`` marker); anything else slow says so with
``@pytest.mark.slow``.

Every test session gets its own ``QSER_HOME`` (caches, demo corpus, run records)
unless one is set already (CI sets it inside the clone so the demo corpus and
embeddings are made once per run).
"""

from __future__ import annotations

import inspect
import os
import re
import uuid
from pathlib import Path

import pytest

from qser_core.config import QserConfig

EMODB_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "audio"
#: Fixtures whose use makes a test slow.
SLOW_FIXTURES = frozenset({"local_ray", "emodb_audio"})
#: Markers that make a test slow.
SLOW_MARKERS = frozenset({"browser"})
#: Source text of a test (or a helper it calls) that starts a fresh interpreter.
_SPAWNS = re.compile(r"\bsubprocess\.|\bsys\.executable\b|\bProcessPoolExecutor\b|\bmultiprocessing\b")
#: Demo speakers of the fast tier: six, so 5-fold speaker-disjoint cross-validation still works.
FAST_DEMO_SPEAKERS = "6"


def pytest_configure(config):
    if "QSER_HOME" not in os.environ:
        import tempfile

        os.environ["QSER_HOME"] = tempfile.mkdtemp(prefix="qser-test-home-")
    os.environ.setdefault("MPLBACKEND", "Agg")
    # the dashboard would train its Live demo models at start-up in every AppTest; tests that need them ask
    os.environ.setdefault("QSER_PREPARE_DEFAULT_MODELS", "0")
    if _fast_tier(config):
        os.environ.setdefault("QSER_DEMO_SPEAKERS", FAST_DEMO_SPEAKERS)
        # The fast tier's models are tiny: torch's second thread only adds synchronisation (tests/experiments/
        # test_crossval.py took 83 s with two threads, 28 s with one, on the 2-core machine). Set before torch loads.
        os.environ.setdefault("OMP_NUM_THREADS", "1")


def _fast_tier(config) -> bool:
    """True when the run deselects slow tests (the default ``-m "not slow"``)."""
    return (config.getoption("markexpr", "") or "").replace(" ", "") == "notslow"


def _spawns_process(function, owner) -> bool:
    """Whether ``function``, or a function or method of ``owner``'s module or class it names, starts a process."""
    module = inspect.getmodule(function)
    seen, stack = set(), [function]
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        try:
            if _SPAWNS.search(inspect.getsource(fn)):
                return True
        except (OSError, TypeError):
            continue
        for name in getattr(getattr(fn, "__code__", None), "co_names", ()):
            for scope in (module, owner):
                helper = inspect.unwrap(getattr(scope, name, None)) if scope is not None else None
                if inspect.isfunction(helper) and helper.__module__ == getattr(module, "__name__", None):
                    stack.append(helper)
    return False


def pytest_collection_modifyitems(config, items):
    """Mark slow every test that uses Ray, EmoDB, a browser or a fresh interpreter (see the module docstring)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if (SLOW_FIXTURES & names or any(item.get_closest_marker(m) for m in SLOW_MARKERS)
                or any(_spawns_process(fn, owner) for fn, owner in _code_of(item, names))):
            item.add_marker(pytest.mark.slow)


def _code_of(item, fixture_names):
    """The test function and the functions of the fixtures it uses, each with the class it is looked up in."""
    function = getattr(item, "function", None)
    if function is not None:
        yield function, getattr(item, "cls", None)
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    for name in fixture_names:
        for definition in definitions.get(name, ()):
            yield definition.func, None


@pytest.fixture(scope="session")
def qser_home() -> Path:
    """The session's QSER_HOME folder."""
    return Path(os.environ["QSER_HOME"])


@pytest.fixture(scope="session")
def emodb_audio() -> Path:
    """Real speech (EmoDB) beside the project; tests that need it skip where it is absent (README: Tests)."""
    if not EMODB_AUDIO.is_dir():
        pytest.skip(f"needs real speech: EmoDB's 535 clips in {EMODB_AUDIO} (README, 'Tests' says how to get them)")
    return EMODB_AUDIO


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory) -> Path:
    """One MLflow SQLite database per test module (tests/test_tracking.py, tests/test_runs.py)."""
    # Creating an MLflow SQLite database runs its migrations (~1-2 s), so most tests share one
    # and isolate themselves with their own experiment name.
    return tmp_path_factory.mktemp("mlflow") / "shared.db"


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One real local Ray (2 CPUs) and one MLflow SQLite store for the module; Ray starts once (a few seconds)."""
    import ray

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'sweeps.db'}"
    os.environ["MLFLOW_EXPERIMENT_NAME"] = f"test-sweep-{uuid.uuid4().hex[:8]}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def store(shared_db, tmp_path, monkeypatch) -> Path:
    """QSER_HOME in tmp, MLFLOW_TRACKING_URI on the shared tmp SQLite, a fresh experiment."""
    monkeypatch.setenv("QSER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{shared_db}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", f"test-{uuid.uuid4().hex[:8]}")
    return shared_db


@pytest.fixture
def tracking_config() -> QserConfig:
    """A small quantum config (two seeds, 4 qubits, basic ansatz) for recording runs."""
    return QserConfig().with_overrides(["train.seeds=0,1", "reduce.n_qubits=4", "head.ansatz=basic"])


@pytest.fixture(scope="session")
def demo_fast_config():
    """Small, quick settings on the demo corpus (8 qubits, 1 layer, 15 epochs, 3 folds)."""
    from qser_core.config import QserConfig

    return QserConfig().with_overrides(
        ["train.epochs=15", "train.patience=5", "data.n_folds=3", "reduce.n_qubits=8", "head.n_layers=1"]
    )


@pytest.fixture(scope="session")
def demo_fast_features(demo_fast_config):
    """The demo corpus with its embeddings (generated and extracted once per session)."""
    from qser_core.experiments.pipeline import prepare

    return prepare(demo_fast_config)

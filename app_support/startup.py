"""Start-up work of the dashboard, in the background, so the first page renders in seconds.

On a fresh home the demo corpus takes tens of seconds to synthesise, and the run store (MLflow) a few
seconds to import and open; blocking the Overview on them made the first page take 17-20 s. The
:class:`StartupJob` does both in a daemon thread started once per server (``cache.startup``), then
prepares the Live demo's default models (``cache.demo_job``) so they are on disk before anyone asks.
Pages show its progress and fill in what it has finished.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app_support.background import BackgroundJob
from app_support.jobs import TrainingJob
from qser_core.config import QserConfig


@dataclass(frozen=True)
class StartupSnapshot:
    """A consistent copy of the start-up job's state for one page render."""

    status: str  # running | done | failed
    progress: tuple[int, int, str]  # done, total, message
    error: str


#: At most this long the run store waits for the first page to be drawn.
PAGE_WAIT_S = 10.0
#: Then this long more, while the server sends the drawn page's last messages: MLflow's import holding the GIL
#: right away delayed the page's end by 0.1-0.85 s on a warm restart (script done at 2.4 s, page done at 2.5-3.3 s;
#: with the store opened later, 2.4-2.6 s). The store is ready ~2 s later anyway (its import). On a warm restart the
#: corpus is indexed after this wait too, and the Overview fills in its numbers then.
PAGE_SETTLE_S = 0.5

#: The steps, in order, as the Overview names them.
STEPS = ("corpus", "runs", "default models")


class StartupJob(BackgroundJob):
    """Index (on a fresh home: generate) the corpus, open the run store, then warm what pages need next.

    Parameters
    ----------
    config : QserConfig
        The session's configuration when the server started (its dataset is indexed).
    after : callable, optional
        Called with ``config`` once the corpus and the store are ready (the Live demo's default models);
        its failure is kept in :attr:`later_error` and never fails the job.
    """

    thread_name = "qser-startup"
    failure = "preparing the dashboard failed"

    def __init__(self, config: QserConfig, *, after=None) -> None:
        super().__init__()
        self.config, self.after = config, after
        self._done = {step: threading.Event() for step in STEPS}
        self.later_error = ""
        #: The corpus of ``config`` once indexed (step "corpus"); shared by every session, never mutated.
        self.corpus = None
        self._settled = False
        #: Set by the app once a page has been drawn: MLflow's import (seconds, holding the GIL) waits for it, so
        #: it does not slow the first page down (a warm restart's Overview took 8-12 s with both at once).
        self.page_drawn = threading.Event()

    def snapshot(self) -> StartupSnapshot:
        """Status, progress and error, read together."""
        with self._lock:
            return StartupSnapshot(self._status, self._progress, self._error)

    def ready(self, step: str, *, wait: float = 0.0) -> bool:
        """Whether ``step`` (one of :data:`STEPS`) has finished, waiting up to ``wait`` seconds for it."""
        return self._done[step].wait(wait) if wait > 0 else self._done[step].is_set()

    def _finish(self, step: str) -> None:
        self._done[step].set()

    def _index(self) -> None:
        from qser_core.data.corpus import load_corpus

        self.corpus = load_corpus(self.config.data)
        self._finish("corpus")

    def _after_first_page(self) -> None:
        """Wait until the first page is drawn and its last messages are out (once; later calls return at once)."""
        if self.page_drawn.wait(timeout=PAGE_WAIT_S) and not self._settled:
            time.sleep(PAGE_SETTLE_S)
        self._settled = True

    def _work(self) -> str:
        from qser_core.data.demo import demo_corpus_dir, demo_corpus_ready

        if self.config.data.dataset != "demo" or not demo_corpus_ready():
            if self.config.data.dataset == "demo":
                demo_corpus_dir(progress=self._on_progress)  # the one slow part of a fresh home, with progress
            self._index()  # a folder's own message, early
        else:  # a warm restart: indexing (pandas' import and the folder, 0.45 s) waits for the first page
            self._after_first_page()
            self._index()
        self._after_first_page()
        self._on_progress(1, 1, "opening the run store")
        from qser_core.tracking.reader import list_runs

        list_runs()  # imports MLflow and creates or migrates the store once, off the page's thread
        self._finish("runs")
        if self.after is not None:
            try:
                self.after(self.config)
            except Exception as exc:  # noqa: BLE001  (a later page retries and shows its own message)
                self.later_error = str(exc)
        self._finish("default models")
        return "done"


# ------------------------------------------------------------------ the Live demo's default models
#: Heads of the Live demo's default models.
DEFAULT_HEADS = ("logreg", "quantum")
_DEFAULT_JOBS: dict[str, object] = {}  # config digest -> job; server-wide like jobs.BOARD, any thread may ask
_DEFAULT_LOCK = threading.Lock()


def default_models_config(config: QserConfig) -> QserConfig:
    """The settings of the default models: the session's, at most 30 epochs, one fit (no tuning search).

    They only demonstrate prediction (on the demo corpus they are guesses), so the tuning search's four
    fits per head would only make the first visit of the Live demo slower.
    """
    return config.replace("train", epochs=min(config.train.epochs, 30), tune=False)


#: The sections that decide what the default models are (the hardware settings do not).
MODEL_SECTIONS = ("data", "audio", "features", "embedding", "reduce", "head", "train")
#: The default models of the out-of-the-box settings, shipped with the dashboard (``python -m
#: app_support.startup`` writes them), so a new user's first prediction needs no corpus and no training.
SHIPPED = Path(__file__).resolve().parent / "default_models"


def models_key(config: QserConfig) -> str:
    """The key of the default models of ``config``: a digest of the sections that decide them."""
    return default_models_config(config).digest(*MODEL_SECTIONS)


def default_models_dir(config: QserConfig) -> Path:
    """Where the default models of ``config`` are kept: ``qser_home()/models/live-defaults/<key>/<head>``."""
    from qser_core.config import qser_home

    return qser_home() / "models" / "live-defaults" / models_key(config)


def load_default_models(config: QserConfig) -> dict | None:
    """The default models of ``config`` (saved by an earlier start, or shipped), or None when they are not there."""
    from qser_core.errors import QserError
    from qser_core.experiments.models.trained import load_model

    for folder in (default_models_dir(config), SHIPPED / models_key(config)):
        if all((folder / head).is_dir() for head in DEFAULT_HEADS):
            try:
                return {head: load_model(folder / head) for head in DEFAULT_HEADS}
            except QserError:  # damaged or from an older version: the next place, or trained again
                continue
    return None


def _save_default_models(config: QserConfig, models: dict, folder: Path | None = None) -> None:
    import shutil
    import uuid

    folder = default_models_dir(config) if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    for head, model in models.items():
        tmp = folder / f".{head}.tmp-{uuid.uuid4().hex[:8]}"
        model.save(tmp)
        shutil.rmtree(folder / head, ignore_errors=True)
        tmp.rename(folder / head)  # a reader never sees half a model


class DefaultModelsJob(TrainingJob):
    """Load the default models from disk, or train them once and keep them there for every later start.

    ``reuse=False`` always trains (what :func:`ship_default_models` needs).
    """

    def __init__(self, config: QserConfig, *, reuse: bool = True) -> None:
        super().__init__(config, list(DEFAULT_HEADS), mode="quick", track=False)
        self.reuse = reuse

    def _work(self) -> str:
        saved = load_default_models(self.config) if self.reuse else None
        if saved is not None:
            with self._lock:
                self._results = saved
            return "done"
        status = super()._work()
        if status == "done":
            _save_default_models(self.config, self.snapshot().results)
        return status


def ship_default_models() -> Path:
    """Train the default models of the out-of-the-box settings and write them to :data:`SHIPPED`.

    Run ``python -m app_support.startup`` after a change of the default settings (a test says when).
    """
    import shutil

    config = QserConfig()
    job = DefaultModelsJob(default_models_config(config), reuse=False)
    job.start().join()
    snapshot = job.snapshot()
    if snapshot.status != "done":
        raise RuntimeError(f"training the default models ended {snapshot.status}: {snapshot.error}")
    shutil.rmtree(SHIPPED, ignore_errors=True)
    target = SHIPPED / models_key(config)
    _save_default_models(config, snapshot.results, target)
    return target


def default_models_job(config: QserConfig) -> DefaultModelsJob:
    """The job that yields the default models of ``config`` (``snapshot().results`` once finished).

    Shared by every session and thread of the server (the start-up job asks first, the Live demo page
    later); a failed job is dropped so the next call retries.
    """
    key = models_key(config)
    with _DEFAULT_LOCK:
        job = _DEFAULT_JOBS.get(key)
        if job is None or (not job.alive and job.snapshot().status == "failed"):
            job = _DEFAULT_JOBS[key] = DefaultModelsJob(default_models_config(config)).start()
    return job


def prepare_default_models(config: QserConfig) -> None:
    """Start-up step: the default models of ``config`` on disk (waits for the shared job)."""
    job = default_models_job(config)
    job.join()
    if job.snapshot().status == "failed":
        raise RuntimeError(job.snapshot().error)


if __name__ == "__main__":
    print(f"default models written to {ship_default_models()}")

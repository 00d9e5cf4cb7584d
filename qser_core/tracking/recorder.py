"""MLflow run records: where runs are stored, and writing every training and evaluation run.

:func:`track_run` opens a :class:`RunRecorder` that writes one run; reading runs back
(``qser runs``, the dashboard's "Compare runs" page) is :mod:`qser_core.tracking.reader`.

Where runs go
    :func:`tracking_uri`: ``$MLFLOW_TRACKING_URI`` if set, else a local SQLite store
    ``sqlite:///<qser_home()>/mlflow.db`` with artefacts in ``<qser_home()>/mlartifacts``
    (for any SQLite store, artefacts go to ``mlartifacts/`` beside the database file).
    No server and no UI are started; ``mlflow ui --backend-store-uri <uri>`` shows the same runs.
Which experiment
    One experiment, ``"qser"`` (``$MLFLOW_EXPERIMENT_NAME`` overrides it), for every dataset and
    head, so any two runs can be compared side by side; the dataset is a column, a param
    (``data.dataset``) and a tag (``qser.dataset``) to filter on.
What a run holds
    Params: the full config flattened (``data.dataset``, ``head.kind``, ...; lists as JSON).
    Tags: ``qser.run_type``, ``qser.dataset``, ``qser.backbone``, ``qser.head``, ``qser.version``,
    ``qser.config_digest``, ``qser.git_commit`` (when the package sits in a git checkout),
    ``qser.status`` (``running`` → ``finished`` | ``interrupted`` | ``failed``), ``qser.reason``.
    Metrics: per-epoch curves (step = epoch) as they come; final metrics only at the end, in the
    same single ``log_batch`` call that sets ``qser.status=finished``, so a run either has its
    final metrics or is marked interrupted/failed. Artefacts: ``config.toml`` and whatever the
    pipeline logs (``confusion.json``, ``split.json``, ``predictions.json``, a model folder).

MLflow stays quiet: its log level is WARNING unless ``$MLFLOW_LOGGING_LEVEL`` says otherwise, its
log lines go to stderr, telemetry and artefact progress bars are off unless set in the environment.
``import mlflow`` is deferred to the first call (about 1 s); opening the store checks its schema
(about 0.5 s, 1.3 s when the database is first created) once per process and store.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import numbers
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from qser_core.config import QserConfig, qser_home
from qser_core.errors import BackendError, ConfigError, DataError, TrainingCancelled

__all__ = [
    "RUN_TYPES",
    "EXPERIMENT",
    "tracking_uri",
    "experiment_name",
    "track_run",
    "RunRecorder",
]

RUN_TYPES = ("evaluate", "train", "hybrid", "hardware", "sweep")
EXPERIMENT = "qser"
_METRIC_KEY = re.compile(r"^[\w\-./ :]+$")
_MAX_TAG = 5000  # MLflow allows 8000 characters per tag value; reasons are cut well below
_log = logging.getLogger(__name__)


# ------------------------------------------------------------------ store
def tracking_uri() -> str:
    """Where runs are recorded: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<qser_home()>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return f"sqlite:///{(qser_home() / 'mlflow.db').resolve().as_posix()}"


def experiment_name() -> str:
    """The experiment runs go to: ``$MLFLOW_EXPERIMENT_NAME``, else ``"qser"`` (all datasets)."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip() or EXPERIMENT


def _artifact_root(uri: str) -> str | None:
    """``mlartifacts/`` beside a SQLite database (else the store's own default)."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///").split("?")[0]).expanduser().resolve()
    db.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    return (db.parent / "mlartifacts").as_uri()


def _import_mlflow():
    """Import MLflow quietly (deferred: the import alone takes about a second)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline machines; no phoning home
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import warnings

    # SQLAlchemy warns about MLflow's own mappers on every store start; not actionable for us.
    warnings.filterwarnings("ignore", message=r"The ``noload`` loader strategy is deprecated")
    import mlflow

    if "MLFLOW_LOGGING_LEVEL" not in os.environ:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    return mlflow


@functools.lru_cache(maxsize=8)
def _client(uri: str):
    """One ``MlflowClient`` per store (opening a SQLite store checks its schema once)."""
    _import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _artifact_root(uri)  # make the database's folder before SQLAlchemy opens it
    try:
        return MlflowClient(tracking_uri=uri)
    except MlflowException as exc:
        raise BackendError(
            f"cannot open the MLflow tracking store {uri!r}: {exc.message}. Unset MLFLOW_TRACKING_URI to use "
            "the local SQLite store, or point it at a sqlite:/// path or a running MLflow server"
        ) from exc


def _experiment_id(client, uri: str, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":  # deleted in the MLflow UI: new runs bring it back
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_root(uri))


@functools.lru_cache(maxsize=1)
def _git_commit() -> str:
    """Commit of the checkout holding this package ("" when not a git checkout or git is absent)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=2, stdin=subprocess.DEVNULL, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


# ------------------------------------------------------------- helpers
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="list")
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON; convert it to lists, dicts and numbers first")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, indent=1)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real)


def _flatten_params(config: QserConfig) -> dict[str, str]:
    """``{"data.dataset": "demo", ..., "train.seeds": "[0, 1]"}`` (MLflow params are strings)."""
    return {
        f"{section}.{name}": json.dumps(value) if isinstance(value, list) else str(value)
        for section, values in config.to_dict().items() for name, value in values.items()
    }


def _final_metrics(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numbers as they are (bools as 0/1), ``*_ci95`` pairs as ``_low``/``_high``, dicts flattened."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if _is_number(value):
            out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(_final_metrics(value, prefix=f"{name}."))
        elif (name.endswith("ci95") and isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2
              and all(_is_number(v) for v in value)):
            out[f"{name}_low"], out[f"{name}_high"] = float(value[0]), float(value[1])
    for name in out:
        if not _METRIC_KEY.match(name) or len(name) > 250:
            raise DataError(f"metric name {name!r} is not allowed; use letters, digits and _ - . / : (at most 250)")
    return out


def _epoch_values(log: Any) -> tuple[int, dict[str, float]]:
    if dataclasses.is_dataclass(log) and not isinstance(log, type):
        values = dataclasses.asdict(log)
    elif isinstance(log, Mapping):
        values = dict(log)
    else:
        raise TypeError(f"log_epoch takes an EpochLog dataclass or a dict; got a {type(log).__name__}")
    if not _is_number(values.get("epoch")):
        raise DataError(f"an epoch log needs an integer 'epoch' field; got fields {sorted(values)}")
    epoch = int(values.pop("epoch"))
    return epoch, {k: float(v) for k, v in values.items() if _is_number(v) and not isinstance(v, bool)}


def _artifact_name(name: str) -> str:
    name = str(name).strip().lstrip("/")
    if not name or ".." in Path(name).parts:
        raise DataError(f"artifact name must be a relative file name such as 'folds.json'; got {name!r}")
    return name if name.endswith(".json") else f"{name}.json"


# ------------------------------------------------------------- recorder
class RunRecorder:
    """One MLflow run, opened by :func:`track_run`; logs epochs, final metrics and artefacts.

    Attributes
    ----------
    run_id : str or None
        MLflow run id (``None`` before the run starts and when tracking is disabled).
    tracking_uri : str
        The store the run is written to.
    """

    def __init__(self, config: QserConfig, *, run_type: str, tags: Mapping[str, Any] | None = None,
                 experiment: str | None = None, enabled: bool = True) -> None:
        if run_type not in RUN_TYPES:
            raise ConfigError(f"run_type must be one of {', '.join(RUN_TYPES)}; got {run_type!r}")
        if not isinstance(config, QserConfig):
            raise ConfigError(f"track_run needs a QserConfig; got a {type(config).__name__}")
        self.config, self.run_type, self.enabled = config, run_type, enabled
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.experiment = experiment or experiment_name()
        self.tracking_uri = tracking_uri()
        self.run_id: str | None = None
        self._open = False
        self._final: dict[str, float] = {}
        self._final_raw: dict[str, Any] = {}
        self._epoch_prefixes: list[str] = []
        self._epoch_fields: list[str] = []

    # -------------------------------------------------------- lifecycle
    def __enter__(self) -> "RunRecorder":
        if self.enabled:
            self._start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self._open:
            return False
        self._open = False
        if exc is None:
            self._finish()
        else:
            self._abort(exc)
        return False  # never swallow: the caller sees its own exception

    def _start(self) -> None:
        from mlflow.entities import Param

        client, cfg = _client(self.tracking_uri), self.config
        tags = {
            "qser.run_type": self.run_type, "qser.status": "running", "qser.dataset": cfg.data.dataset,
            "qser.backbone": cfg.embedding.backbone, "qser.head": cfg.head.kind,
            "qser.version": _version(), "qser.config_digest": cfg.digest(), **self.tags,
        }
        if commit := _git_commit():
            tags["qser.git_commit"] = tags["mlflow.source.git.commit"] = commit
        run = self._call("start a run", lambda: client.create_run(
            _experiment_id(client, self.tracking_uri, self.experiment), tags=tags,
            run_name=f"{self.run_type}-{cfg.head.kind}-{cfg.data.dataset}"))
        self.run_id, self._open = run.info.run_id, True
        try:
            client.log_batch(self.run_id, params=[Param(k, v) for k, v in _flatten_params(cfg).items()])
            client.log_text(self.run_id, cfg.to_toml(), "config.toml")
        except BaseException as exc:
            self._open = False
            self._abort(exc)
            if not isinstance(exc, Exception):
                raise
            raise BackendError(f"could not record the config of run {self.run_id} in {self.tracking_uri}: {exc}; "
                               "the run is marked failed. Check free disk space and the tracking URI") from exc

    def _finish(self) -> None:
        """Final metrics and ``qser.status=finished`` in one ``log_batch``, then FINISHED."""
        from mlflow.entities import Metric, RunTag

        client, now = _client(self.tracking_uri), int(time.time() * 1000)
        try:
            if self._final_raw:
                client.log_text(self.run_id, _dumps(self._final_raw), "final.json")
            client.log_batch(self.run_id, metrics=[Metric(k, v, now, 0) for k, v in self._final.items()],
                             tags=[RunTag("qser.status", "finished")])
            client.set_terminated(self.run_id, "FINISHED")
        except BaseException as exc:  # Ctrl-C while writing must not leave the run RUNNING either
            self._abort(exc)
            if not isinstance(exc, Exception):
                raise
            raise BackendError(
                f"could not write the final results of run {self.run_id} to {self.tracking_uri}: {exc}; "
                "the run is marked failed. Check free disk space and that no other process locks the store"
            ) from exc

    def _abort(self, exc: BaseException) -> None:
        """Mark the run KILLED (interrupt, cancel) or FAILED with the reason; never raises."""
        from mlflow.entities import RunTag

        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit, TrainingCancelled))
        reason = f"{type(exc).__name__}: {exc}"[:_MAX_TAG]
        try:
            client = _client(self.tracking_uri)
            client.log_batch(self.run_id, tags=[RunTag("qser.status", "interrupted" if interrupted else "failed"),
                                                RunTag("qser.reason", reason)])
            client.set_terminated(self.run_id, "KILLED" if interrupted else "FAILED")
        except Exception as inner:  # the original exception matters more than this one
            _log.warning("could not mark MLflow run %s as ended: %s", self.run_id, inner)

    # ---------------------------------------------------------- logging
    def _call(self, what: str, write):
        """Run one MLflow write; store errors become :class:`BackendError` naming the store."""
        from mlflow.exceptions import MlflowException

        try:
            return write()
        except (MlflowException, OSError) as exc:
            raise BackendError(f"could not {what} in the MLflow store {self.tracking_uri}: {exc}. "
                               "Check free disk space and that the store is reachable") from exc

    def _writable(self) -> bool:
        if not self.enabled:
            return False
        if not self._open:
            raise RuntimeError(f"run {self.run_id or '(not started)'} is not open; "
                               "log inside `with track_run(config, run_type=...) as recorder:`")
        return True

    def log_epoch(self, log: Any, *, prefix: str = "") -> None:
        """Per-epoch metrics (step = epoch), written at once.

        Parameters
        ----------
        log : EpochLog or dict
            Any dataclass or mapping with an ``epoch`` field; every other numeric field
            (``train_loss, train_acc, val_loss, val_acc, val_ua, seconds``) becomes a metric.
        prefix : str, default=""
            Put before each metric name, e.g. ``"fold0/seed1/"`` for curves of several fits.
        """
        epoch, values = _epoch_values(log)
        if not self._writable():
            return
        from mlflow.entities import Metric, RunTag

        now, tags = int(time.time() * 1000), []
        if prefix not in self._epoch_prefixes:
            self._epoch_prefixes.append(prefix)
            tags.append(RunTag("qser.epoch_prefixes", json.dumps(self._epoch_prefixes)))
        if new := [k for k in values if k not in self._epoch_fields]:
            self._epoch_fields.extend(new)
            tags.append(RunTag("qser.epoch_fields", json.dumps(self._epoch_fields)))
        metrics = [Metric(f"{prefix}{k}", v, now, epoch) for k, v in values.items()]
        try:  # a missed curve point must not stop a long training (the final write still must succeed)
            self._call(f"log epoch {epoch}", lambda: _client(self.tracking_uri).log_batch(
                self.run_id, metrics=metrics, tags=tags))
        except BackendError as exc:
            _log.warning("%s", exc)

    def log_final(self, metrics: Mapping[str, Any]) -> None:
        """Final metrics, held back and written only when the run ends without an exception.

        Parameters
        ----------
        metrics : dict
            Numbers (bools become 0/1), ``name_ci95: (low, high)`` pairs (stored as
            ``name_ci95_low`` and ``name_ci95_high``) and nested dicts (``outer.inner``). Other
            values are kept only in the ``final.json`` artefact, with everything else given here.
        """
        self._writable()
        self._final.update(_final_metrics(metrics))
        self._final_raw.update(json.loads(_dumps(dict(metrics))))

    def log_json(self, name: str, obj: Any) -> None:
        """Store ``obj`` as the JSON artefact ``name`` (``.json`` added if missing); numpy arrays allowed."""
        text, name = _dumps(obj), _artifact_name(name)
        if self._writable():
            self._call(f"store {name}", lambda: _client(self.tracking_uri).log_text(self.run_id, text, name))

    def log_confusion(self, matrix: Any, labels: list[str], *, name: str = "confusion") -> None:
        """Store a confusion matrix (rows = true class, columns = predicted) as ``<name>.json``."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
            raise DataError(f"confusion matrix must be square with one row per label ({len(labels)} labels); "
                            f"got shape {matrix.shape}")
        self.log_json(name, {"labels": list(labels), "matrix": matrix.tolist()})

    def log_split(self, parts: Mapping[str, Any], *, name: str = "split") -> None:
        """Store which speakers went to which part, e.g. ``{"train": [...], "val": [...], "test": [...]}``."""
        if not isinstance(parts, Mapping):
            raise DataError(f"log_split takes a dict of part name to speaker list; got a {type(parts).__name__}")
        self.log_json(name, parts)

    def log_artifacts(self, folder: str | os.PathLike, *, artifact_path: str = "model") -> None:
        """Copy a folder (a saved model) into the run's artefacts under ``artifact_path``."""
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"log_artifacts needs an existing folder; {folder} is not one. Save the model first")
        if self._writable():
            self._call(f"store {folder}", lambda: _client(self.tracking_uri).log_artifacts(
                self.run_id, str(folder), artifact_path))

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag now (for example a hardware job id)."""
        if self._writable():
            self._call(f"set tag {key}", lambda: _client(self.tracking_uri).set_tag(
                self.run_id, str(key), str(value)[:_MAX_TAG]))


def track_run(config: QserConfig, *, run_type: str, tags: Mapping[str, Any] | None = None,
              experiment: str | None = None, enabled: bool = True) -> RunRecorder:
    """Record one run with MLflow: use as ``with track_run(config, run_type="train") as recorder:``.

    Parameters
    ----------
    config : QserConfig
        Logged flattened as params, plus its digest as a tag and ``config.toml`` as an artefact.
    run_type : {"evaluate", "train", "hybrid", "hardware"}
    tags : dict, optional
        Extra tags (values turned into strings).
    experiment : str, optional
        Experiment name; default :func:`experiment_name`.
    enabled : bool, default=True
        ``False`` gives a recorder that checks its input but writes nothing (``run_id`` stays ``None``).

    Returns
    -------
    RunRecorder
        The run starts on ``__enter__``. On leaving the block normally the final metrics are
        written and the run is FINISHED; on an exception it is FAILED (``qser.status=failed``),
        on ``KeyboardInterrupt`` or :class:`~qser_core.errors.TrainingCancelled` it is KILLED
        (``qser.status=interrupted``), with ``qser.reason``, no final metrics, and the exception re-raised.

    Raises
    ------
    ConfigError
        ``run_type`` outside :data:`RUN_TYPES`.
    BackendError
        The tracking store cannot be opened or written.
    """
    return RunRecorder(config, run_type=run_type, tags=tags, experiment=experiment, enabled=enabled)


def _version() -> str:
    try:
        from qser_core import __version__
    except ImportError:  # a stale editable install can make qser_core a namespace package
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("qser-lab")
        except PackageNotFoundError:
            return "unknown"
    return __version__

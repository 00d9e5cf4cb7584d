"""Writing runs: :func:`track_run` records one experiment, :func:`reopen_run` adds to a recorded one later.

The store is :mod:`qser_core.tracking.store`; reading runs back (``qser runs``, the dashboard's
"Compare runs" page) is :mod:`qser_core.tracking.reader`.

What a run holds
    Params: the full config flattened (``data.dataset``, ``head.kind``, ...; lists as JSON), and the
    config itself as the artefact ``config.toml`` (what :func:`~qser_core.tracking.reader.load_run` reads).
    Tags: ``qser.run_type``, ``qser.dataset``, ``qser.synthetic`` (``true`` for the eSpeak demo corpus,
    also in a ``crema-d`` folder marked with ``SYNTHETIC.txt``), ``qser.backbone``, ``qser.head``,
    ``qser.version``, ``qser.config_digest``, ``qser.git_commit``, ``qser.pid`` / ``qser.host``
    (so a run whose process died shows as such), ``mlflow.parentRunId`` for child runs,
    ``qser.status`` and ``qser.reason``.
Status (``qser.status``)
    ``running`` while the block runs; on a normal exit the outcome set with
    :meth:`RunRecorder.set_outcome` (or found in the final metrics' ``status`` / ``cancelled``
    keys): ``finished``, ``early-stopped``, ``stopped`` (by the user; best epoch kept) or
    ``submitted`` (a hardware job still to come back); ``interrupted`` on Ctrl-C, SIGTERM or a
    cancel token; ``failed`` on any other exception. ``epochs_run`` and ``best_epoch`` are metrics.
    Final metrics are written only at the end, in the same ``log_batch`` that sets the status.
Nothing computed is lost
    When a store write fails during or at the end of a run, everything the run logged (config,
    curves, JSON artefacts, model folders, final metrics) is kept in a local folder
    ``unsaved-runs/<time>-<run id>/`` beside the store (:func:`~qser_core.tracking.store.unsaved_dir`),
    a warning names it and the command that re-imports it (``qser runs import PATH``), and
    :func:`unsaved_runs` lists it for the caller; the block's own result is returned as usual.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import numbers
import os
import re
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from qser_core.config import QserConfig
from qser_core.errors import BackendError, ConfigError, DataError, TrainingCancelled
from qser_core.tracking import store as _store
from qser_core.tracking.store import EXPERIMENT, artifact_name, experiment_name, process_start, tracking_uri
from qser_core.tracking.unsaved import UnsavedRun, unsaved_runs

__all__ = [
    "RUN_TYPES",
    "OUTCOMES",
    "EXPERIMENT",
    "tracking_uri",
    "experiment_name",
    "track_run",
    "check_store",
    "reopen_run",
    "RunRecorder",
    "unsaved_runs",
]

RUN_TYPES = ("evaluate", "train", "hybrid", "hardware", "compare", "sweep")
#: Ways a run can end without an exception (``qser.status``).
OUTCOMES = ("finished", "early-stopped", "stopped", "submitted")
_METRIC_KEY = re.compile(r"^[\w\-./ :]+$")
_MAX_TAG = 5000  # MLflow allows 8000 characters per tag value; reasons are cut well below
_log = logging.getLogger(__name__)


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


def flatten_params(config: QserConfig) -> dict[str, str]:
    """``{"data.dataset": "demo", ..., "train.seeds": "[0, 1]"}`` (MLflow params are strings)."""
    return {
        f"{section}.{name}": json.dumps(value) if isinstance(value, list) else str(value)
        for section, values in config.to_dict().items() for name, value in values.items()
    }


def final_metrics(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numbers as they are (bools as 0/1), ``*_ci95`` pairs as ``_low``/``_high``, dicts flattened."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if _is_number(value):
            out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(final_metrics(value, prefix=f"{name}."))
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


def _is_synthetic(config: QserConfig) -> bool:
    from qser_core.data.demo import is_synthetic

    return is_synthetic(config.data)


def process_tags() -> dict[str, str]:
    """``qser.pid``, ``qser.host`` and ``qser.pid_start`` of this process (to tell a run whose process died)."""
    return {"qser.pid": str(os.getpid()), "qser.host": socket.gethostname(), "qser.pid_start": process_start(os.getpid())}


@functools.lru_cache(maxsize=1)
def _git_commit() -> str:
    """Commit of the checkout holding this package ("" when not a git checkout or git is absent)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=2, stdin=subprocess.DEVNULL, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


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


# ------------------------------------------------------------- recorder
class RunRecorder:
    """One MLflow run, opened by :func:`track_run` (a new run) or :func:`reopen_run` (a recorded one).

    Attributes
    ----------
    run_id : str or None
        MLflow run id (``None`` before a new run starts and when tracking is disabled).
    tracking_uri : str
        The store the run is written to.
    unsaved : pathlib.Path or None
        The local folder holding what the store refused (see the module docstring), else ``None``.
    """

    def __init__(self, config: QserConfig | None, *, run_type: str, tags: Mapping[str, Any] | None = None,
                 experiment: str | None = None, enabled: bool = True, parent_run_id: str | None = None,
                 run_id: str | None = None) -> None:
        self.config, self.run_type, self.enabled = config, run_type, enabled
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.experiment = experiment or experiment_name()
        self.parent_run_id = parent_run_id
        self.tracking_uri = tracking_uri()
        self.run_id = run_id
        self.unsaved: Path | None = None
        self._reopened = run_id is not None
        self._open = False
        self._repo = None
        self._final: dict[str, float] = {}
        self._final_raw: dict[str, Any] = {}
        self._outcome: dict[str, Any] = {}
        self._epoch_prefixes: list[str] = []
        self._epoch_fields: list[str] = []
        self._keep = UnsavedRun(self.tracking_uri)

    # -------------------------------------------------------- lifecycle
    def __enter__(self) -> "RunRecorder":
        if self.enabled:
            self._attach() if self._reopened else self._start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self._open:
            return False
        self._open = False
        if exc is None:
            self._finish()
        elif self._reopened:
            self._note_reopen_error(exc)
        else:
            self._abort(exc)
        return False  # never swallow: the caller sees its own exception

    def _base_tags(self) -> dict[str, str]:
        cfg = self.config
        tags = {
            "qser.run_type": self.run_type, "qser.status": "running", "qser.dataset": cfg.data.dataset,
            "qser.synthetic": str(_is_synthetic(cfg)).lower(), "qser.backbone": cfg.embedding.backbone,
            "qser.head": cfg.head.kind, "qser.version": _version(), "qser.config_digest": cfg.digest(),
            **process_tags(), **self.tags,
        }
        if commit := _git_commit():
            tags["qser.git_commit"] = tags["mlflow.source.git.commit"] = commit
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        return tags

    def _start(self) -> None:
        from mlflow.entities import Param

        client, cfg = _store.client(self.tracking_uri), self.config
        if self.parent_run_id:
            from qser_core.tracking.reader import resolve_run_id

            self.parent_run_id = resolve_run_id(self.parent_run_id)
        tags = self._base_tags()
        run = client.create_run(_store.experiment_id(client, self.experiment), tags=tags,
                                run_name=f"{self.run_type}-{cfg.head.kind}-{cfg.data.dataset}")
        self.run_id, self._open = run.info.run_id, True
        self._repo = _store.artifact_repo(client, run)
        params = flatten_params(cfg)
        self._keep.begin(self.run_id, cfg.to_toml(), params, tags)
        try:
            client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])
            self._log_text(cfg.to_toml(), "config.toml")
        except BaseException as exc:
            self._open = False
            self._abort(exc)
            if not isinstance(exc, Exception):
                raise
            raise BackendError(f"could not record the config of run {self.run_id} in {self.tracking_uri}: {exc}; "
                               "the run is marked failed. Check free disk space and the tracking URI") from exc

    def _attach(self) -> None:
        """Reopen a recorded run: check it exists, read its config and epoch bookkeeping."""
        from qser_core.tracking.reader import resolve_run_id, stored_config

        client = _store.client(self.tracking_uri)
        self.run_id = resolve_run_id(self.run_id)
        run = client.get_run(self.run_id)
        self._repo = _store.artifact_repo(client, run)
        self.run_type = run.data.tags.get("qser.run_type", self.run_type)
        self.config = stored_config(self.run_id)
        self._epoch_prefixes = json.loads(run.data.tags.get("qser.epoch_prefixes", "[]"))
        self._epoch_fields = json.loads(run.data.tags.get("qser.epoch_fields", "[]"))
        self._keep.begin(self.run_id, self.config.to_toml() if self.config else "", dict(run.data.params),
                         dict(run.data.tags))
        self._open = True

    def _end_tags(self) -> tuple[dict[str, float], dict[str, str], str]:
        outcome = dict(self._outcome)
        raw = self._final_raw
        if "status" not in outcome:
            if isinstance(raw.get("status"), str) and raw["status"] in OUTCOMES:
                outcome["status"] = raw["status"]
            elif raw.get("cancelled") is True:
                outcome.setdefault("status", "stopped")
                outcome.setdefault("reason", "stopped by the user; the best epoch so far is kept")
        for key, alias in (("epochs_run", "epochs"), ("best_epoch", "best_epoch")):
            for name in (key, alias):
                if key not in outcome and _is_number(raw.get(name)) and not isinstance(raw.get(name), bool):
                    outcome[key] = raw[name]
        status = outcome.get("status") or ("finished" if not self._reopened or self._final else "")
        metrics = dict(self._final)
        metrics.update({k: float(outcome[k]) for k in ("epochs_run", "best_epoch") if outcome.get(k) is not None})
        tags = {"qser.status": status} if status else {}
        if outcome.get("reason"):
            tags["qser.reason"] = str(outcome["reason"])[:_MAX_TAG]
        return metrics, tags, status

    def _finish(self) -> None:
        """Final metrics and the outcome in one ``log_batch``, then FINISHED (KILLED for a stopped run)."""
        from mlflow.entities import Metric, RunTag

        metrics, tags, status = self._end_tags()
        self._keep.final(self._final_raw, metrics, tags)
        if self._keep.active:  # the store already failed during the run: keep everything locally
            self._save_locally(self._keep.error)
            return
        client, now = _store.client(self.tracking_uri), _store.now_ms()
        try:
            if self._final_raw:
                self._log_text(_dumps(self._final_raw), "final.json")
            client.log_batch(self.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])
            if status:
                client.set_terminated(self.run_id, "KILLED" if status == "stopped" else "FINISHED")
        except Exception as exc:  # noqa: BLE001 - a store fault of any kind: results kept locally
            self._abort(exc, reason=f"the final write failed ({exc}); results kept locally")
            self._save_locally(exc)
        except BaseException as exc:  # Ctrl-C while writing must not leave the run RUNNING either
            self._abort(exc)
            self._save_locally(exc)
            raise

    def _save_locally(self, exc: BaseException | None) -> None:
        try:
            self.unsaved = self._keep.write(exc)
        except OSError as inner:  # a full disk: say so, and let the caller's own result stand
            _log.error("the run store refused run %s (%s) and its results could not be kept locally either (%s); "
                       "they exist only in this process's output", self.run_id, exc, inner)
            return
        _log.warning("%s", self._keep.message(exc))

    def _abort(self, exc: BaseException, *, reason: str | None = None) -> None:
        """Mark the run KILLED (interrupt, SIGTERM, cancel) or FAILED with the reason; never raises."""
        from mlflow.entities import RunTag

        interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit, TrainingCancelled))
        reason = (reason or f"{type(exc).__name__}: {exc}")[:_MAX_TAG]
        try:
            client = _store.client(self.tracking_uri)
            client.log_batch(self.run_id, tags=[RunTag("qser.status", "interrupted" if interrupted else "failed"),
                                                RunTag("qser.reason", reason)])
            client.set_terminated(self.run_id, "KILLED" if interrupted else "FAILED")
        except Exception as inner:  # noqa: BLE001 - the original exception matters more than this one
            _log.warning("could not mark MLflow run %s as ended: %s", self.run_id, inner)

    def _note_reopen_error(self, exc: BaseException) -> None:
        """A reopened run keeps its status; the error is noted in ``qser.reopen_error``."""
        try:
            _store.client(self.tracking_uri).set_tag(self.run_id, "qser.reopen_error",
                                                     f"{type(exc).__name__}: {exc}"[:_MAX_TAG])
        except Exception as inner:  # noqa: BLE001 - noting the error is best effort
            _log.warning("could not note the error on MLflow run %s: %s", self.run_id, inner)

    # ---------------------------------------------------------- writing
    def _write(self, what: str, write) -> None:
        """One store write; on a store fault, warn once and keep this and all later writes locally."""
        if self._keep.active:
            return
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - store faults (BackendError) and MLflow refusals (a run deleted meanwhile)
            self._keep.activate(exc)
            _log.warning("could not %s for run %s (%s); this run's results are now kept locally and saved at "
                         "its end", what, self.run_id, exc)

    def _log_text(self, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory(prefix="qser-artifact-") as tmp:
            path = Path(tmp) / Path(name).name
            path.write_text(text, encoding="utf-8")
            parent = str(Path(name).parent)
            with _store.store_errors(self.tracking_uri, f"store {name}"):
                self._repo.log_artifact(str(path), None if parent == "." else parent)

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

        now, tags = _store.now_ms(), []
        if prefix not in self._epoch_prefixes:
            self._epoch_prefixes.append(prefix)
            tags.append(RunTag("qser.epoch_prefixes", json.dumps(self._epoch_prefixes)))
        if new := [k for k in values if k not in self._epoch_fields]:
            self._epoch_fields.extend(new)
            tags.append(RunTag("qser.epoch_fields", json.dumps(self._epoch_fields)))
        metrics = [Metric(f"{prefix}{k}", v, now, epoch) for k, v in values.items()]
        self._keep.epoch(metrics, {t.key: t.value for t in tags})
        if self._keep.active:
            return
        try:  # a failed write never stops training
            _store.client(self.tracking_uri).log_batch(self.run_id, metrics=metrics, tags=tags)
        except Exception as exc:  # noqa: BLE001 - a failed write never stops training
            # Keep this run locally from here on, as _write does: the write already took MLflow's retries, and
            # against a server that stopped answering each epoch would wait them out again (65.6 s measured).
            self._keep.activate(exc)
            _log.warning("could not log epoch %s for run %s (%s); this run's results are now kept locally and "
                         "saved at its end", epoch, self.run_id, exc)

    def log_final(self, metrics: Mapping[str, Any]) -> None:
        """Final metrics, held back and written only when the run ends without an exception.

        Parameters
        ----------
        metrics : dict
            Numbers (bools become 0/1), ``name_ci95: (low, high)`` pairs (stored as
            ``name_ci95_low`` and ``name_ci95_high``) and nested dicts (``outer.inner``). Other
            values are kept only in the ``final.json`` artefact, with everything else given here.
            ``status`` (one of :data:`OUTCOMES`), ``cancelled``, ``epochs_run`` (or ``epochs``) and
            ``best_epoch`` also set the outcome unless :meth:`set_outcome` did.
        """
        self._writable()
        self._final.update(final_metrics(metrics))
        self._final_raw.update(json.loads(_dumps(dict(metrics))))

    def set_outcome(self, status: str, *, reason: str = "", epochs_run: int | None = None,
                    best_epoch: int | None = None) -> None:
        """How the run ended, written with the final metrics on a normal exit.

        Parameters
        ----------
        status : {"finished", "early-stopped", "stopped", "submitted"}
            ``stopped``: the user stopped training (best epoch kept; MLflow status KILLED).
        reason : str, default=""
            Stored as ``qser.reason`` (e.g. "stopped by the user after 17 of 200 epochs").
        epochs_run, best_epoch : int, optional
            Stored as the metrics ``epochs_run`` and ``best_epoch``.
        """
        if status not in OUTCOMES:
            raise ConfigError(f"status must be one of {', '.join(OUTCOMES)}; got {status!r}")
        self._outcome = {"status": status, "reason": reason, "epochs_run": epochs_run, "best_epoch": best_epoch}

    def set_outcome_from(self, history: Any, *, epochs: int | None = None, tuning: Any = None) -> None:
        """:meth:`set_outcome` from a training ``History`` (``cancelled``, ``stopped_early``, ``epochs``, ``best_epoch``).

        Parameters
        ----------
        history : qser_core.heads.training.History
        epochs : int, optional
            The epoch budget (``train.epochs``), named in the reason of a stopped run.
        tuning : qser_core.experiments.tuning.Tuning, optional
            The search that chose the head: a Stop during it is worded with the candidate and epoch
            it cut (``qser.reason``) and tagged ``qser.stopped_at``.
        """
        ran = len(history.epochs)
        stopped = getattr(tuning, "stopped", None)
        if stopped is not None and stopped["of"] > 1:
            self.set_tag("qser.stopped_at", f"candidate {stopped['candidate']}/{stopped['of']}, "
                                            f"epoch {stopped['epoch']}")
            self.set_outcome("stopped", reason=tuning.stop_reason() + f" ({ran} epochs, best epoch "
                             f"{history.best_epoch})", epochs_run=ran, best_epoch=history.best_epoch)
        elif history.cancelled:
            of = f" of {epochs}" if epochs else ""
            self.set_outcome("stopped", reason=f"stopped by the user after {ran}{of} epochs; best epoch "
                             f"{history.best_epoch} kept", epochs_run=ran, best_epoch=history.best_epoch)
        else:
            self.set_outcome("early-stopped" if history.stopped_early else "finished", epochs_run=ran,
                             best_epoch=history.best_epoch)

    def log_json(self, name: str, obj: Any) -> None:
        """Store ``obj`` as the JSON artefact ``name`` (``.json`` added if missing); numpy arrays allowed."""
        text, name = _dumps(obj), artifact_name(name)
        self.log_text(text, name)

    def log_text(self, text: str, name: str) -> None:
        """Store ``text`` as the artefact ``name`` (a relative file name, e.g. ``"report/transpile.txt"``)."""
        name = artifact_name(name, suffix="")
        if self._writable():
            self._keep.text(name, text)
            self._write(f"store {name}", lambda: self._log_text(text, name))

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

    def log_corpus(self, report: Any) -> None:
        """Record what indexing and extraction left out: ``corpus.json`` and the tags ``qser.n_clips`` / ``qser.n_skipped``.

        Parameters
        ----------
        report : qser_core.data.corpus.IndexReport
            ``FeatureSet.corpus.report`` (after extraction added the clips it could not use).
        """
        record = {"n_files": report.n_files, "n_clips": report.n_clips, "skipped": [list(s) for s in report.skipped],
                  "dropped": dict(report.dropped), "summary": report.summary()}
        self.log_json("corpus", record)
        self.set_tag("qser.n_clips", report.n_clips)
        self.set_tag("qser.n_skipped", len(report.skipped))

    def log_artifacts(self, folder: str | os.PathLike, *, artifact_path: str = "model") -> None:
        """Copy a folder (a saved model) into the run's artefacts under ``artifact_path``."""
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"log_artifacts needs an existing folder; {folder} is not one. Save the model first")
        if not self._writable():
            return

        def write():
            with _store.store_errors(self.tracking_uri, f"store {folder}"):
                self._repo.log_artifacts(str(folder), artifact_path)

        self._write(f"store {folder}", write)
        if self._keep.active:
            self._keep.folder(folder, artifact_path)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag now (for example a hardware job id)."""
        if self._writable():
            key, value = str(key), str(value)[:_MAX_TAG]
            self._keep.tag(key, value)
            self._write(f"set tag {key}", lambda: _store.client(self.tracking_uri).set_tag(self.run_id, key, value))


def check_store(*, enabled: bool = True) -> None:
    """Open the run store now, when ``enabled``, so a fault stops a command before its work, not after.

    Extraction, training and cross-validation call this before they start: an unreachable tracking
    server or a damaged store then costs seconds (the store's fail-fast checks), not the minutes of
    work before :func:`track_run` would first touch it. The opened client is reused by the run.

    Raises
    ------
    BackendError
        The store cannot be used (see :func:`qser_core.tracking.store.client`).
    """
    if enabled:
        _store.client(tracking_uri())


def track_run(config: QserConfig, *, run_type: str, tags: Mapping[str, Any] | None = None,
              experiment: str | None = None, enabled: bool = True, parent_run_id: str | None = None) -> RunRecorder:
    """Record one run with MLflow: use as ``with track_run(config, run_type="train") as recorder:``.

    Parameters
    ----------
    config : QserConfig
        Logged flattened as params, plus its digest as a tag and ``config.toml`` as an artefact.
    run_type : {"evaluate", "train", "hybrid", "hardware", "compare", "sweep"}
    tags : dict, optional
        Extra tags (values turned into strings).
    experiment : str, optional
        Experiment name; default :func:`~qser_core.tracking.store.experiment_name`.
    enabled : bool, default=True
        ``False`` gives a recorder that checks its input but writes nothing (``run_id`` stays ``None``).
    parent_run_id : str, optional
        Make this a child run of that run (a unique prefix is enough); MLflow shows it nested.

    Returns
    -------
    RunRecorder
        The run starts on ``__enter__``. On leaving the block normally the final metrics and the
        outcome are written; on an exception it is FAILED (``qser.status=failed``), on
        ``KeyboardInterrupt`` (SIGINT, and SIGTERM in the CLI) or
        :class:`~qser_core.errors.TrainingCancelled` it is KILLED (``qser.status=interrupted``),
        with ``qser.reason``, no final metrics, and the exception re-raised.

    Raises
    ------
    ConfigError
        ``run_type`` outside :data:`RUN_TYPES`.
    BackendError
        The tracking store cannot be opened (raised on ``__enter__``, before any work is done).
    """
    if run_type not in RUN_TYPES:
        raise ConfigError(f"run_type must be one of {', '.join(RUN_TYPES)}; got {run_type!r}")
    if not isinstance(config, QserConfig):
        raise ConfigError(f"track_run needs a QserConfig; got a {type(config).__name__}")
    return RunRecorder(config, run_type=run_type, tags=tags, experiment=experiment, enabled=enabled,
                       parent_run_id=parent_run_id)


def reopen_run(run_id: str) -> RunRecorder:
    """Add metrics, artefacts and tags to a recorded run: ``with reopen_run(run_id) as recorder:``.

    For results that arrive after the run's own block ended (an IBM Quantum job that finishes
    tomorrow). ``recorder.config`` is the run's stored config. On leaving the block normally,
    final metrics given with :meth:`RunRecorder.log_final` are written with the outcome
    (:meth:`RunRecorder.set_outcome`; ``finished`` when final metrics were given and no outcome);
    without either, the run's status is left as it was. An exception inside the block leaves the
    status unchanged, is noted in the tag ``qser.reopen_error`` and propagates.

    Parameters
    ----------
    run_id : str
        The run's id or a unique prefix of it (as ``qser runs`` shows).

    Raises
    ------
    DataError
        No run (or more than one) matches ``run_id``.
    BackendError
        The store cannot be opened.
    """
    if not isinstance(run_id, str) or not run_id.strip():
        raise DataError(f"reopen_run needs a run id (see `qser runs`); got {run_id!r}")
    return RunRecorder(None, run_type="evaluate", run_id=run_id.strip())

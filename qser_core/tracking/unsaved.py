"""Results the run store refused: kept in a local folder beside the store, and imported back later.

:class:`UnsavedRun` is the recorder's journal: it holds what a run logged and, once a store write
fails, writes it all to ``unsaved-runs/<time>-<run id>/`` (``run.json`` plus an ``artifacts/``
folder). ``qser runs import PATH`` (:func:`import_unsaved`) writes such a folder back: into the same
run when the store still has it, else into a new run.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from qser_core.errors import DataError
from qser_core.tracking import store as _store

__all__ = ["UnsavedRun", "unsaved_runs", "import_unsaved"]

FORMAT = "qser-unsaved-run/1"
_SAVED: list[Path] = []  # folders written by this process, for the CLI's closing message


def unsaved_runs() -> list[Path]:
    """Folders this process wrote because the store refused a run's results (oldest first)."""
    return list(_SAVED)


class UnsavedRun:
    """Journal of one run's writes; :meth:`write` saves it locally once the store has failed."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.error: BaseException | None = None
        self.record: dict[str, Any] = {"format": FORMAT, "tracking_uri": uri, "epochs": [], "texts": [],
                                       "tags": {}, "final_raw": {}, "final_metrics": {}, "end_tags": {}}
        self._texts: dict[str, str] = {}
        self._folders: list[tuple[Path, str]] = []

    @property
    def active(self) -> bool:
        """True once a store write failed: later writes go only here."""
        return self.error is not None

    def activate(self, exc: BaseException) -> None:
        self.error = self.error or exc

    def begin(self, run_id: str, config_toml: str, params: dict[str, str], tags: dict[str, str]) -> None:
        self.record.update(run_id=run_id, config_toml=config_toml, params=dict(params))
        self.record["tags"].update(tags)

    def epoch(self, metrics, tags: dict[str, str]) -> None:
        self.record["epochs"].extend([m.key, m.value, m.step, m.timestamp] for m in metrics)
        self.record["tags"].update(tags)

    def text(self, name: str, text: str) -> None:
        self._texts[name] = text

    def folder(self, path: Path, artifact_path: str) -> None:
        self._folders.append((Path(path), artifact_path))

    def tag(self, key: str, value: str) -> None:
        self.record["tags"][key] = value

    def final(self, raw: dict, metrics: dict[str, float], end_tags: dict[str, str]) -> None:
        self.record.update(final_raw=raw, final_metrics=metrics, end_tags=end_tags)

    def write(self, exc: BaseException | None) -> Path:
        """Save everything under ``unsaved-runs/`` beside the store; return the folder."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = _store.unsaved_dir(self.uri) / f"{stamp}-{self.record.get('run_id') or 'run'}"
        artifacts = folder / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        for name, text in self._texts.items():
            (artifacts / name).parent.mkdir(parents=True, exist_ok=True)
            (artifacts / name).write_text(text, encoding="utf-8")
        for path, artifact_path in self._folders:
            if path.is_dir():
                shutil.copytree(path, artifacts / artifact_path, dirs_exist_ok=True)
        error = exc or self.error
        self.record.update(texts=sorted(self._texts), error=f"{type(error).__name__}: {error}" if error else "")
        (folder / "run.json").write_text(json.dumps(self.record, indent=1), encoding="utf-8")
        _SAVED.append(folder)
        return folder

    def message(self, exc: BaseException | None) -> str:
        folder = _SAVED[-1] if _SAVED else "(nowhere: the local folder could not be written either)"
        return (f"the run store {self.uri} refused the results of run {self.record.get('run_id')} "
                f"({exc or self.error}); they are kept in {folder}. Re-import them once the store works again "
                f"with: qser runs import {folder}")


def _read_bundle(path: Path) -> dict[str, Any]:
    path = Path(path)
    file = path / "run.json" if path.is_dir() else path
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file} is not a readable unsaved-run record ({exc}); give the folder that "
                        "`qser` named when the store refused the results") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DataError(f"{file} is not an unsaved-run record (format {FORMAT!r} expected)")
    return record


def _target_run(client, record: dict[str, Any]) -> tuple[str, bool]:
    """The recorded run if the store still has it, else a new run with the same config and tags."""
    from mlflow.exceptions import MlflowException

    run_id = record.get("run_id")
    if run_id:
        try:
            run = client.get_run(run_id)
            if run.info.lifecycle_stage == "active":
                return run_id, True
        except MlflowException:
            pass
    from mlflow.entities import Param

    tags = {k: v for k, v in record["tags"].items() if k != "qser.status"}
    tags["qser.status"] = "running"
    run = client.create_run(_store.experiment_id(client, _store.experiment_name()), tags=tags,
                            run_name=f"{tags.get('qser.run_type', 'run')}-imported")
    params = [Param(k, v) for k, v in record.get("params", {}).items()]
    for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run.info.run_id, params=params[i:i + 100])
    return run.info.run_id, False


def import_unsaved(path: str | Path) -> str:
    """Write a folder from ``unsaved-runs/`` into the store; return the run id it went to.

    Raises
    ------
    DataError
        ``path`` is not such a folder.
    BackendError
        The store still refuses it.
    """
    from mlflow.entities import Metric, RunTag

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    record = _read_bundle(Path(path))
    client = _store.client()
    run_id, existing = _target_run(client, record)
    run = client.get_run(run_id)
    have = set(run.data.metrics) if existing else set()
    epochs = [Metric(k, v, ts, step) for k, v, step, ts in record["epochs"] if k not in have]
    for i in range(0, len(epochs), 1000):  # at most 1000 metrics per batch
        client.log_batch(run_id, metrics=epochs[i:i + 1000])
    if (folder / "artifacts").is_dir() and any((folder / "artifacts").iterdir()):
        with _store.store_errors(client.uri, "store the artefacts"):
            _store.artifact_repo(client, run).log_artifacts(str(folder / "artifacts"))
    if record["config_toml"] and not existing:
        _store.artifact_repo(client, run).log_artifact(str(_write_tmp(folder, record["config_toml"])))
    end = {**{k: v for k, v in record["tags"].items() if k.startswith("qser.epoch_")}, **record["end_tags"],
           "qser.imported_from": str(folder)}
    now = _store.now_ms()
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in record["final_metrics"].items()],
                     tags=[RunTag(k, v) for k, v in end.items()])
    if "qser.reason" not in end and "qser.reason" in run.data.tags:
        client.delete_tag(run_id, "qser.reason")
    status = record["end_tags"].get("qser.status", "")
    client.set_terminated(run_id, "KILLED" if status in ("stopped", "interrupted") else
                          "FAILED" if status == "failed" else "FINISHED")
    (folder / "IMPORTED").write_text(f"{run_id}\n", encoding="utf-8")
    return run_id


def _write_tmp(folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path

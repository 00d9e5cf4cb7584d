"""Saving and loading a trained model without pickle, with every file checked on load.

``qser train --out DIR`` writes, ``qser predict --model DIR`` reads (through
:class:`~qser_core.experiments.models.trained.TrainedModel`). A model folder holds::

    config.toml     the experiment's config
    reducer.npz     the fitted reducer as its affine map W, b (then clipped to [0, π]) and its explained
                    variance, plain arrays (numpy, allow_pickle=False)
    head.pt         the head's weights (a torch state dict, read with torch.load(weights_only=True))
    metrics.json    test metrics, split speakers, training history
    manifest.json   format, the head's class and constructor parameters, its JSON-able fitted
                    attributes, the sha256 of every file above, and its own digest (``digest``: the
                    sha256 of the rest of the manifest as canonical JSON)

Loading never unpickles: a shared model folder cannot run code. The head is rebuilt from a fixed
table of head classes (:data:`HEAD_CLASSES`) and its constructor parameters, then its weights are
loaded into the module the head builds itself. Any file that is missing, truncated, bit-flipped or
edited (an edited ``config.toml`` would silently change predictions) fails its checksum and gives a
:class:`~qser_core.errors.DataError` naming the file. The manifest checks itself the same way: it holds
the head's class and parameters (``angle-ry`` → ``angle-rx`` would change predictions), so any edit to
what it says fails its own digest. The digest guards against edits and damage, not against someone who
recomputes it on purpose (that needs a signature key, which the lab does not hold); so does a folder in the old pickle format
(``model.joblib``), which is refused rather than loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from qser_core.config import QserConfig
from qser_core.errors import ConfigError, DataError

__all__ = ["FORMAT", "MODEL_FILES", "save_parts", "load_parts", "verify_folder"]

FORMAT = "qser-model/3"
#: Earlier formats, refused with a note (``/2`` had no digest of the manifest itself).
_OLD_FORMATS = ("qser-model/1", "qser-model/2")
#: Files a model folder holds besides ``manifest.json``.
MODEL_FILES = ("config.toml", "reducer.npz", "head.pt", "metrics.json")
_MANIFEST = "manifest.json"


#: The only classes a saved head may be rebuilt as (no names are imported from the file), and their module:
#: only the named one is imported, so a classical model loads without PennyLane.
_HEAD_CLASSES = {"ClassicalHead": "qser_core.heads.classical", "QuantumHead": "qser_core.heads.quantum"}


def _head_class(name: Any) -> type | None:
    import importlib

    module = _HEAD_CLASSES.get(name) if isinstance(name, str) else None
    return None if module is None else getattr(importlib.import_module(module), name)


# -------------------------------------------------------------------- reducer
def _reducer_arrays(reducer) -> dict[str, np.ndarray]:
    # The fitted steps (scaler → PCA or PLS → scaler → ±3σ angle map) compose to one affine map followed by
    # the clip to [0, π]; storing that map keeps the file independent of the steps' sklearn internals.
    W, b = reducer.affine()
    return {"W": W, "b": b, "n_components": np.asarray(reducer.n_components),
            "method": np.asarray(getattr(reducer, "method", "pca")),
            "n_features_in_": np.asarray(reducer.n_features_in_),
            "explained_variance_ratio_": np.asarray(reducer.explained_variance_ratio_, float)}


def _rebuild_reducer(arrays: dict[str, np.ndarray]):
    from sklearn.pipeline import Pipeline

    from qser_core.features.reduce import AffineAngles, QubitReducer

    if "W" not in arrays:
        raise DataError("reducer.npz is from an older version of the lab (no affine map); retrain the model "
                        "with `qser train --out DIR`")
    reducer = QubitReducer(n_components=int(arrays["n_components"]), method=str(arrays["method"]))
    reducer.pipeline_ = Pipeline([("affine", AffineAngles(W=arrays["W"], b=arrays["b"]).fit())])
    reducer.explained_variance_ratio_ = arrays["explained_variance_ratio_"]
    reducer.n_features_in_ = int(arrays["n_features_in_"])
    return reducer


# ----------------------------------------------------------------------- head
def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _head_record(head) -> dict[str, Any]:
    name = type(head).__name__
    if name not in _HEAD_CLASSES:
        raise DataError(f"cannot save a head of type {name}; saved models hold one of {', '.join(_HEAD_CLASSES)}")
    params = head.get_params(deep=False)
    if not _jsonable(params):
        raise DataError(f"the parameters of {name} cannot be stored as JSON: {params!r}")
    fitted = {k: v for k, v in vars(head).items()
              if k.endswith("_") and not k.startswith("_") and k not in ("module_", "history_", "classes_")}
    history = getattr(head, "history_", None)
    return {"class": name, "params": params,
            "fitted": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in fitted.items()
                       if _jsonable(v.tolist() if isinstance(v, np.ndarray) else v)},
            "history": dataclasses.asdict(history) if dataclasses.is_dataclass(history) else None}


def _rebuild_head(record: dict[str, Any], state: dict[str, Any]):
    from qser_core.heads.training import EpochLog, History

    cls = _head_class(record.get("class"))
    if cls is None:
        raise DataError(f"the saved head class {record.get('class')!r} is not one of {', '.join(_HEAD_CLASSES)}")
    head = cls(**record["params"])
    fitted = record["fitted"]
    module = head._build_module(int(fitted["n_features_in_"]))  # the head builds its own module, then its weights
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise DataError(f"the saved weights do not fit a {record['class']} with {record['params']}: {exc}") from exc
    module.eval()
    for key, value in fitted.items():
        setattr(head, key, value)
    head.module_, head.classes_ = module, np.arange(6)
    if record.get("history"):
        history = dict(record["history"])
        history["epochs"] = [EpochLog(**e) for e in history.get("epochs", [])]
        head.history_ = History(**history)
    return head


# ----------------------------------------------------------------- save, load
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest without its ``digest`` field, as canonical JSON (key order and spacing do not count)."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file renamed into place; a failed write (full disk) leaves no temporary file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_parts(folder: str | os.PathLike, *, config: QserConfig, reducer, head, record: dict[str, Any]) -> Path:
    """Write a model folder (see the module docstring); ``manifest.json`` last, so a cut-off save fails its check.

    Parameters
    ----------
    folder : path-like
        Created if needed; files of an earlier model there are replaced.
    config : QserConfig
    reducer : QubitReducer
        Fitted.
    head : ClassicalHead or QuantumHead
        Fitted.
    record : dict
        JSON-able metrics, split speakers, history and run id (``metrics.json``).

    Returns
    -------
    pathlib.Path
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffers = {"config.toml": config.to_toml().encode("utf-8"),
               "metrics.json": json.dumps(record, indent=1, default=float).encode("utf-8")}
    npz = io.BytesIO()
    np.savez(npz, **_reducer_arrays(reducer))
    buffers["reducer.npz"] = npz.getvalue()
    weights = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in head.module_.state_dict().items()}, weights)
    buffers["head.pt"] = weights.getvalue()
    manifest = {"format": FORMAT, "head": _head_record(head),
                "sha256": {name: _sha256(data) for name, data in buffers.items()}}
    manifest["digest"] = _manifest_digest(manifest)
    (folder / _MANIFEST).unlink(missing_ok=True)  # while files change, the folder is not a loadable model
    for name, data in buffers.items():
        _write_atomic(folder / name, data)
    (folder / "model.joblib").unlink(missing_ok=True)  # an old pickle beside the new files would mislead
    _write_atomic(folder / _MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    return folder


def _read_manifest(folder: Path) -> dict[str, Any]:
    """``manifest.json`` of a model folder, checked against its own digest; :class:`DataError` naming it if not."""
    where = f"manifest.json of model folder {folder}"
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{where} cannot be read ({exc.strerror}); check the folder's permissions") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{where} is damaged (not JSON: {exc}); the model is not loaded. Restore the folder or "
                        "train the model again") from exc
    if not isinstance(manifest, dict):
        raise DataError(f"{where} is damaged (not a JSON object); restore the folder or train the model again")
    if manifest.get("format") in _OLD_FORMATS:
        raise DataError(f"model folder {folder} was saved by an older version of the lab (format "
                        f"{manifest['format']}, whose manifest.json was not protected against edits); train it again "
                        "with `qser train --out DIR`")
    if manifest.get("digest") != _manifest_digest(manifest):
        raise DataError(f"{where} was changed or damaged (its digest does not match its content); the model is not "
                        "loaded. Restore the folder or train the model again")
    sums = manifest.get("sha256")
    if manifest.get("format") != FORMAT or not isinstance(sums, dict) or set(sums) != set(MODEL_FILES):
        raise DataError(f"{where} is not a {FORMAT} manifest (format {manifest.get('format')!r}); "
                        "train the model again with this version of the lab")
    return manifest


def verify_folder(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the checked bytes of every file of a model folder.

    Raises
    ------
    DataError
        Not a model folder, an old pickle model, a damaged manifest, or a file missing or changed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give the folder written by `qser train --out DIR`")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise DataError(f"model folder {folder} cannot be read (permission denied); check its permissions "
                        "(chmod u+rx) or copy the model somewhere readable")
    if not (folder / _MANIFEST).is_file():
        if (folder / "model.joblib").is_file():
            raise DataError(f"{folder} holds a model in the old pickle format (model.joblib); pickles can run code "
                            "when loaded, so it is not loaded. Train it again with `qser train --out DIR`")
        raise DataError(f"{folder} holds no saved model (manifest.json missing); train one with `qser train --out DIR`")
    manifest = _read_manifest(folder)
    data = {}
    for name in MODEL_FILES:
        try:
            data[name] = (folder / name).read_bytes()
        except OSError as exc:
            raise DataError(f"file {name} of model folder {folder} is missing or unreadable ({exc.strerror}); "
                            "train the model again or restore the folder") from exc
        if _sha256(data[name]) != manifest["sha256"][name]:
            raise DataError(f"file {name} of model folder {folder} was changed or damaged (its sha256 does not "
                            "match manifest.json); the model is not loaded. Restore the folder or train it again")
    return manifest, data


def load_parts(folder: str | os.PathLike) -> tuple[QserConfig, Any, Any, dict[str, Any]]:
    """Config, reducer, head and ``metrics.json`` record of a model folder, each file checked first.

    Raises
    ------
    DataError
        See :func:`verify_folder`; also files that pass their checksum but cannot be read (a
        manifest written by hand).
    """
    import torch

    manifest, data = verify_folder(folder)
    try:
        config = QserConfig.from_toml_text(data["config.toml"].decode("utf-8"), source=f"{folder}/config.toml")
        record = json.loads(data["metrics.json"].decode("utf-8"))
        with np.load(io.BytesIO(data["reducer.npz"]), allow_pickle=False) as npz:
            reducer = _rebuild_reducer({k: npz[k] for k in npz.files})
        state = torch.load(io.BytesIO(data["head.pt"]), weights_only=True, map_location="cpu")
        head = _rebuild_head(manifest["head"], state)
    except (ConfigError, UnicodeDecodeError, ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"model folder {folder} cannot be read ({type(exc).__name__}: {exc}); "
                        "train the model again") from exc
    return config, reducer, head, record

"""Models you can predict with: recorded training runs (their ``model`` artefact) and saved model folders.

``qser predict clip.wav --model DIR`` reads a saved folder; the dashboard's Live demo lists the
recorded runs here as well, so any model trained before (in any session) can be chosen.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from qser_core.errors import DataError

__all__ = ["recorded_models", "eligible_models", "usable", "stopped_models", "load_recorded_model", "model_label", "zip_model", "confusion_csv"]

#: Filter of the runs that store a model (``qser train`` and the dashboard's quick training).
TRAIN_RUNS = "tags.`qser.run_type` = 'train'"
#: ``qser_status`` of a run stopped by the user: its model is partial (best weights before Stop), offered
#: by the pickers only when asked for (``include_stopped=True``) and labelled STOPPED.
STOPPED = "stopped"


def model_label(row: dict[str, Any]) -> str:
    """One line naming a recorded model: head, qubits, backbone, UA, date and a short run id (STOPPED if partial)."""
    ua = row.get("ua")
    score = f"UA {ua:.3f}" if isinstance(ua, float) and not math.isnan(ua) else "no UA"
    when = row.get("start_time")
    when = when.strftime("%Y-%m-%d %H:%M") if hasattr(when, "strftime") else ""
    stopped = "STOPPED (partial) · " if row.get("qser_status") == STOPPED else ""
    return (f"{stopped}{row.get('head', '?')} · {row.get('n_qubits', '?')} qubits · {row.get('backbone', '?')} · "
            f"{score} · {when} · {str(row.get('run_id', ''))[:8]}")


def usable(row: dict[str, Any], *, include_stopped: bool = False) -> bool:
    """Whether a model picker offers this recorded run: it ended normally, or was stopped and those are asked for.

    The rule every picker follows (Live demo, Hardware page, ``app_support.widgets.model_picker``):
    runs stopped by the user hold a partial model and are left out unless ``include_stopped``;
    failed, interrupted, gone and still-running runs never hold one.
    """
    from qser_core.tracking.reader import COMPLETED

    status = row.get("qser_status")
    return row.get("status") != "RUNNING" and (status in COMPLETED or (include_stopped and status == STOPPED))


def _train_rows(max_results: int, include_stopped: bool = False) -> list[dict[str, Any]]:
    from qser_core.tracking.reader import list_runs

    rows = list_runs(filter_string=TRAIN_RUNS, max_results=max_results).to_dict("records")
    return [row for row in rows if usable(row, include_stopped=include_stopped)]


def recorded_models(*, max_results: int = 200, include_stopped: bool = False) -> dict[str, str]:
    """Recorded runs that trained one model, newest first: ``{run_id: label}``.

    Parameters
    ----------
    max_results : int, default=200
        At most this many runs are read.
    include_stopped : bool, default=False
        Offer runs stopped by the user too (partial models, labelled STOPPED); see :func:`usable`.
    """
    return {row["run_id"]: model_label(row) for row in _train_rows(max_results, include_stopped)}


def stopped_models(*, max_results: int = 200) -> int:
    """How many recorded training runs were stopped by the user (what the pickers leave out by default)."""
    from qser_core.tracking.reader import list_runs

    runs = list_runs(filter_string=TRAIN_RUNS, max_results=max_results)
    return int((runs["qser_status"] == STOPPED).sum())


def eligible_models(head: str, *, max_results: int = 200,
                    include_stopped: bool = False) -> tuple[dict[str, str], int]:
    """Recorded models whose head is ``head`` (newest first), and how many recorded models have another head.

    The Hardware page offers only quantum heads (``eligible_models("quantum")``) and says how many
    recorded models it left out, so a missing run is explained rather than silently absent.

    Parameters
    ----------
    head : str
        A head kind (:data:`qser_core.config.HEAD_KINDS`).
    max_results : int, default=200
        At most this many runs are read.
    include_stopped : bool, default=False
        Offer runs stopped by the user too (partial models, labelled STOPPED); see :func:`usable`.

    Returns
    -------
    eligible : dict
        ``{run_id: label}`` of the runs with that head.
    n_other : int
        Recorded models with another head.
    """
    rows = _train_rows(max_results, include_stopped)
    eligible = {row["run_id"]: model_label(row) for row in rows if row.get("head") == head}
    return eligible, len(rows) - len(eligible)


def load_recorded_model(run_id: str):
    """The :class:`~qser_core.experiments.models.trained.TrainedModel` stored with a recorded training run.

    Raises
    ------
    DataError
        The run does not exist or stored no model (stopped before the end, or not a training run).
    """
    from qser_core.experiments.models.trained import load_model
    from qser_core.tracking.reader import download_artifacts, load_run

    if "model" not in load_run(run_id)["artifacts"]:
        raise DataError(f"run {run_id} stored no model (only `qser train` and the dashboard's quick training "
                        "runs that finished do); pick another run or train one")
    with tempfile.TemporaryDirectory(prefix="qser-model-") as tmp:
        folder = download_artifacts(run_id, "model", tmp)
        return load_model(folder)


def zip_model(model) -> bytes:
    """A trained model as the bytes of a zip of its saved folder (what ``qser predict --model`` reads, unzipped)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="qser-model-") as tmp:
        folder = model.save(Path(tmp) / "model")
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, f"model/{path.name}")
    return buffer.getvalue()


def confusion_csv(matrix: Any, labels: list[str]) -> str:
    """A confusion matrix as CSV text: one row per true emotion, one column per predicted emotion."""
    matrix = np.asarray(matrix)
    if matrix.shape != (len(labels), len(labels)):
        raise DataError(f"confusion matrix must be {len(labels)} × {len(labels)} (one row and column per "
                        f"emotion); got shape {matrix.shape}")
    lines = ["true \\ predicted," + ",".join(labels)]
    lines += [label + "," + ",".join(str(int(v)) for v in row) for label, row in zip(labels, matrix)]
    return "\n".join(lines) + "\n"

"""Sweeps: a grid of configurations × speaker-disjoint folds × seeds, run as Ray tasks.

``qser sweep --grid head.kind=logreg,mlp-matched,quantum --grid reduce.n_qubits=2,4,8 --folds 5 --seeds 3``

How a sweep runs
    The grid (any ``section.field``, from ``--grid`` or a TOML ``[sweep]`` table) expands into one
    configuration per cell. Embeddings are extracted once per front-end setting, on the driver, and
    put in Ray's object store; every (configuration, fold, seed) is one Ray task that receives them
    by reference. Ray runs locally (``ray.init()``, one worker per core) unless ``RAY_ADDRESS`` or
    ``address`` names a cluster.
What is recorded
    Workers only return results; the driver writes MLflow (so a SQLite store never sees concurrent
    writers): one parent run per sweep (``qser.sweep`` tag, ``sweep.json``) and one child run per
    configuration, recorded like ``qser evaluate`` records one (mean and 95% interval over folds ×
    seeds, per-clip predictions for paired tests) as soon as its last task returns.
Resuming, stopping, failing
    A re-run of the same sweep (same name) skips configurations already finished, keyed by the
    config digest. A cancel (Ctrl-C, the dashboard's Stop) cancels the Ray tasks, marks the sweep
    interrupted and keeps every finished configuration. A failed task is retried once by Ray, then
    its configuration is reported ``failed`` with the error while the rest carries on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from qser_core.config import QserConfig
from qser_core.errors import TrainingCancelled
from qser_core.experiments.sweeps import store
from qser_core.experiments.sweeps.grid import Cell, effective_config, expand_grid, parse_grid, read_sweep_toml, sweep_name
from qser_core.experiments.protocols.compare import pair_with_quantum
from qser_core.experiments.protocols.crossval import FoldResult, FoldTask, plan_fold_tasks, run_fold_task, summarise
from qser_core.experiments.pipeline import prepare
from qser_core.experiments.sweeps.ray_tasks import _remote, drain, init_ray, shutdown_ray
from qser_core.progress import Event, RunContext

__all__ = [
    "Cell",
    "SweepResult",
    "parse_grid",
    "read_sweep_toml",
    "expand_grid",
    "sweep_name",
    "init_ray",
    "shutdown_ray",
    "run_sweep",
    "load_sweep",
    "list_sweeps",
]

FRONT_END = ("data", "audio", "features", "embedding")  # sections the embeddings depend on
STATUSES = ("finished", "failed", "cancelled", "pending")


# ------------------------------------------------------------------ results
@dataclass
class SweepResult:
    """What a sweep produced: one entry per grid cell.

    Attributes
    ----------
    name : str
    run_id : str or None
        The parent MLflow run.
    status : {"finished", "interrupted", "running", "failed"}
    configurations : list of dict
        Per cell: ``settings``, ``digest``, ``status`` (finished / failed / cancelled / pending),
        ``run_id`` of its child run, ``head``, ``n_qubits``, ``n_layers``, ``ua``, ``ua_ci95``, ``wa``,
        ``macro_f1``, ``params``, ``n_values`` (folds × seeds behind the interval), ``reused`` (finished
        in an earlier run of the sweep), ``error``, and for
        quantum cells with a parameter-matched MLP partner ``vs_matched`` (``delta_ua``, ``p_value``).
    axes : list of str
    tasks : dict
        ``total``, ``run`` (this time), ``skipped`` (reused), ``failed``.
    seconds : float
    reason : str
        Why the sweep is interrupted or failed, when the store says (a killed driver), else "".
    """

    name: str
    run_id: str | None
    status: str
    configurations: list[dict[str, Any]]
    axes: list[str] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what ``qser sweep --json`` and ``qser sweep show NAME --json`` print."""
        return {"name": self.name, "run_id": self.run_id, "status": self.status, "axes": self.axes,
                "tasks": self.tasks, "seconds": self.seconds, "reason": self.reason,
                "configurations": self.configurations}

    def frame(self) -> pd.DataFrame:
        """One row per cell: the axes as columns, then UA with its interval, parameters and status."""
        rows = []
        for c in self.configurations:
            vs = c.get("vs_matched") or {}
            low, high = c.get("ua_ci95") or (np.nan, np.nan)
            rows.append({**c["settings"], "head": c["head"], "n_qubits": c["n_qubits"], "n_layers": c["n_layers"],
                         "ua": c.get("ua", np.nan), "ua_low": low, "ua_high": high, "params": c.get("params"),
                         "delta_ua_vs_matched": vs.get("delta_ua", np.nan), "p_vs_matched": vs.get("p_value", np.nan),
                         "n_values": c.get("n_values"), "status": c["status"], "run_id": c.get("run_id"),
                         "error": c.get("error", "")})
        frame = pd.DataFrame(rows)
        return frame.loc[:, ~frame.columns.duplicated()]

    def markdown(self) -> str:
        """A Markdown table (``qser sweep show NAME --markdown``): each cell's UA with its 95% interval and
        parameter count (quantum cells add their UA difference from the parameter-matched MLP and McNemar's p).

        With two axes it is a pivot in grid order (rows: the second axis, columns: the first), else one row
        per cell.
        """
        frame = self.frame()
        text = frame.apply(_cell_text, axis=1) if len(frame) else pd.Series(dtype=str)
        if len(self.axes) == 2:
            across, down = self.axes
            table = frame.assign(text=text).pivot(index=down, columns=across, values="text")
            table = table.reindex(index=pd.unique(frame[down]), columns=pd.unique(frame[across]))
            header = [f"{down} \\ {across}", *map(str, table.columns)]
            body = [[str(key), *(v if isinstance(v, str) else "—" for v in values)]
                    for key, values in zip(table.index, table.to_numpy())]
        else:
            header = [*self.axes, "UA [95% interval]"]
            body = [[*(str(frame.at[i, a]) for a in self.axes), text[i]] for i in frame.index]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *body])


def _cell_text(row: pd.Series) -> str:
    if row["status"] != "finished":
        return row["status"]
    text = f"{row['ua']:.3f} [{row['ua_low']:.3f}, {row['ua_high']:.3f}]"
    if pd.notna(row["params"]):
        text += f", {int(row['params']):,} params"
    if pd.notna(row["delta_ua_vs_matched"]):
        text += f"; {row['delta_ua_vs_matched']:+.3f} vs matched MLP (p = {row['p_vs_matched']:.2g})"
    return text


def _entry(cell: Cell) -> dict[str, Any]:
    h = cell.config.head
    return {"settings": cell.settings, "digest": cell.digest, "status": "pending", "run_id": None,
            "head": h.kind, "n_qubits": cell.config.reduce.n_qubits, "n_layers": h.n_layers,
            "encoding": h.encoding, "ansatz": h.ansatz, "reused": False, "error": ""}


def _fill(entry: dict[str, Any], summary: Mapping[str, Any], run_id: str | None) -> None:
    entry.update(status="finished", run_id=run_id, ua=summary["ua"], ua_ci95=list(summary["ua_ci95"]),
                 wa=summary.get("wa"), macro_f1=summary.get("macro_f1"), params=summary.get("params"),
                 n_values=summary.get("folds", 0) * len(summary.get("seeds", ())) or None)


def _paired_vs_matched(cells: list[Cell], entries: list[dict], predictions: dict[str, dict]) -> None:
    """Quantum cell vs its parameter-matched MLP (same cell, head.kind=mlp-matched): ΔUA and McNemar's p.

    The pairing is :func:`~qser_core.experiments.protocols.compare.pair_with_quantum`, the rule ``qser evaluate`` and the
    Train page use: ΔUA = quantum − matched MLP, the paired bootstrap on the first seed's test clips.
    """
    by_digest = {c.digest: e for c, e in zip(cells, entries)}
    for cell, entry in zip(cells, entries):
        if cell.config.head.kind != "quantum" or entry["status"] != "finished":
            continue
        partner = effective_config(cell.config.replace("head", kind="mlp-matched")).digest()
        other = by_digest.get(partner)
        if other is None or other["status"] != "finished" or partner not in predictions:
            continue
        test = pair_with_quantum(predictions[cell.digest], predictions[partner])
        entry["vs_matched"] = {"delta_ua": test["bootstrap"]["diff"], "ci95": list(test["bootstrap"]["ci95"]),
                               "difference": test["difference"], "p_value": test["mcnemar"]["p_value"],
                               "p_bootstrap": test["bootstrap"]["p_value"], "run_id": other["run_id"]}


# ------------------------------------------------------------------ the driver
def run_sweep(base: QserConfig, grid: Mapping[str, Sequence[Any]], *, name: str | None = None,
              address: str | None = None, workers: int | None = None,
              context: RunContext | None = None) -> SweepResult:
    """Run (or resume) a sweep on Ray and record it with MLflow.

    Parameters
    ----------
    base : QserConfig
        Settings every cell shares; ``data.n_folds`` and ``train.seeds`` set the tasks per cell.
    grid : dict
        ``"section.field"`` → values (strings as on the command line, or typed values).
    name : str, optional
        Sweep name; default :func:`sweep_name`. Re-running a name skips its finished configurations.
    address, workers : optional
        See :func:`init_ray`.
    context : RunContext, optional
        ``progress(done, total, message)`` over extraction, then over tasks; a ``sweep`` event (payload:
        the live :class:`SweepResult`) whenever a configuration is recorded or fails (the dashboard's
        table). Its cancel token stops the sweep: pending tasks are cancelled, finished configurations
        kept. Each Ray task gets the token only; ``track`` is not read: a sweep is always recorded.

    Returns
    -------
    SweepResult
        ``status`` is ``interrupted`` after a cancel or Ctrl-C (also raised again for Ctrl-C).
    """
    cells = expand_grid(base, grid)
    name = name or sweep_name(base, grid)
    store.check_name(name)
    start, entries = time.perf_counter(), [_entry(c) for c in cells]
    result = SweepResult(name=name, run_id=None, status="running", configurations=entries, axes=list(grid))
    try:
        with store.parent_run(name, base, grid) as parent:
            result.run_id = parent.run_id
            driver = _Driver(name, cells, entries, parent, RunContext.of(context))
            driver.result = result
            try:
                driver.reuse(store.finished_children(name))
                driver.notify()  # sweep.json from the start: `qser sweep show` finds even a sweep killed early
                driver.submit_and_collect(address=address, workers=workers)
                result.status = "finished"
            except (TrainingCancelled, KeyboardInterrupt):
                result.status = "interrupted"
                for e in entries:
                    e["status"] = "cancelled" if e["status"] == "pending" else e["status"]
                raise  # the parent run is marked interrupted on the way out
            finally:
                _paired_vs_matched(cells, entries, driver.predictions)
                result.tasks, result.seconds = driver.counts(), time.perf_counter() - start
                parent.log_json("sweep.json", result.summary())
    except TrainingCancelled:
        pass  # a Stop: the result says interrupted; Ctrl-C propagates
    return result


class _Driver:
    """Submits the tasks of the unfinished cells and records each cell when its last task returns."""

    def __init__(self, name, cells, entries, parent, context: RunContext) -> None:
        self.name, self.cells, self.entries, self.parent = name, cells, entries, parent
        self.context = context
        self.predictions: dict[str, dict] = {}
        self.runs: dict[str, list[FoldResult]] = {}
        self.need: dict[str, int] = {}
        self.done = self.total = self.failed = self.skipped = 0

    def notify(self) -> None:
        """Tell the caller, and rewrite ``sweep.json`` so a killed driver still leaves its finished cells."""
        self.result.tasks = self.counts()
        self.parent.log_json("sweep.json", self.result.summary())
        self.context.emit(Event("sweep", payload=self.result))

    def counts(self) -> dict[str, int]:
        return {"total": self.total + self.skipped, "run": self.done, "skipped": self.skipped, "failed": self.failed}

    def _entries_of(self, digest: str):
        return [e for e in self.entries if e["digest"] == digest]

    def reuse(self, finished: Mapping[str, dict]) -> None:
        for cell in self.cells:
            if cell.digest in finished and cell.digest not in self.predictions:
                record = finished[cell.digest]
                self.predictions[cell.digest] = record["predictions"]
                self.skipped += len(cell.config.train.seeds) * cell.config.data.n_folds
            if cell.digest in finished:
                entry = self.entries[self.cells.index(cell)]
                _fill(entry, finished[cell.digest]["summary"], finished[cell.digest]["run_id"])
                entry["reused"] = True

    def submit_and_collect(self, *, address: str | None, workers: int | None) -> None:
        todo = {c.digest: c for c in self.cells if c.digest not in self.predictions}
        if not todo:
            return
        init_ray(address=address, workers=workers)
        import ray

        remote, pending = _remote(run_fold_task), {}
        groups: dict[str, list[Cell]] = {}
        for cell in todo.values():
            groups.setdefault(cell.config.digest(*FRONT_END), []).append(cell)
        self.total = sum(len(c.config.train.seeds) * c.config.data.n_folds for c in todo.values())
        for group in groups.values():
            features = prepare(group[0].config, progress=self.context.progress)  # once per front end, on the driver
            ref = ray.put(features)  # every task of the group reads this one copy
            for cell in group:
                tasks = plan_fold_tasks(effective_config(cell.config), features)
                self.need[cell.digest], self.runs[cell.digest] = len(tasks), []
                worker = RunContext(cancel=self.context.cancel)  # the token only: bar and table stay here
                for task in tasks:
                    pending[remote.remote(task, ref, context=worker)] = (cell.digest, task)
        self._report("tasks submitted")
        self.notify()
        drain(pending, self._on_result, self._on_error, cancel=self.context.cancel)

    def _report(self, message: str) -> None:
        self.context.report(self.done, max(self.total, 1), message)

    def _on_result(self, key: tuple[str, FoldTask], result: FoldResult) -> None:
        digest, task = key
        self.done += 1
        if digest not in self.runs:  # its configuration already failed
            return
        self.runs[digest].append(result)
        entry = self._entries_of(digest)[0]
        if len(self.runs[digest]) == self.need[digest]:
            self._record(digest)
            self._report("recorded " + ", ".join(f"{k}={v}" for k, v in entry["settings"].items()))
            self.notify()
        else:
            self._report(f"{entry['head']}: fold {task.fold + 1}, seed {task.seed}")

    def _on_error(self, key: tuple[str, FoldTask], message: str) -> None:
        digest, task = key
        self.done, self.failed = self.done + 1, self.failed + 1
        self.runs.pop(digest, None)
        for e in self._entries_of(digest):
            e.update(status="failed", error=f"fold {task.fold}, seed {task.seed}: {message}")
        self._report("a task failed (retried once); the sweep carries on")
        self.notify()

    def _record(self, digest: str) -> None:
        cell = next(c for c in self.cells if c.digest == digest)
        results = self.runs.pop(digest)
        if any(r.status == "stopped" for r in results):
            return  # stopped part-way: not a finished configuration
        config = effective_config(cell.config)  # what was trained; its digest is the resume key
        evaluation = summarise(config, results, planned=self.need[digest])
        run_id = store.record_child(self.parent, config, self.name, evaluation)
        self.predictions[digest] = evaluation.predictions_record()
        summary = evaluation.summary()
        for e in self._entries_of(digest):
            _fill(e, summary, run_id)


# ------------------------------------------------------------------ reading back
def load_sweep(name: str) -> SweepResult:
    """The last recorded state of sweep ``name`` (its parent run's ``sweep.json``).

    Raises
    ------
    DataError
        No sweep of that name in the store.
    """
    record = store.load_summary(name)
    return SweepResult(name=record["name"], run_id=record["run_id"], status=record["status"],
                       configurations=record["configurations"], axes=record.get("axes", []),
                       tasks=record.get("tasks", {}), seconds=record.get("seconds", 0.0),
                       reason=record.get("reason", ""))


def list_sweeps() -> pd.DataFrame:
    """One row per recorded sweep, newest first: ``name``, ``run_id``, ``status``, ``start_time``."""
    return store.list_parents()

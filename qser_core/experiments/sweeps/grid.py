"""Sweep grids: axes from ``--grid section.field=v1,v2`` or a TOML ``[sweep]`` table, expanded into cells.

``qser sweep --grid reduce.n_qubits=2,4,8 --grid head.n_layers=1,2`` expands into six cells; each
:class:`Cell` holds its configuration and the digest that keys resuming (:mod:`qser_core.experiments.sweeps.runner`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from qser_core.config import QserConfig
from qser_core.errors import ConfigError

__all__ = ["MAX_CELLS", "Cell", "parse_grid", "check_axis", "read_sweep_toml", "expand_grid", "effective_config", "sweep_name"]

MAX_CELLS = 2000  # a grid beyond this is almost surely a typo (a comma too many)
# Head fields a head kind never reads: cells differing only there are one fit, run once.
_UNUSED_HEAD_FIELDS = {
    "logreg": ("encoding", "ansatz", "n_layers", "hidden", "executor"),
    "mlp": ("encoding", "ansatz", "n_layers", "executor"),
    "mlp-matched": ("encoding", "hidden", "executor"),  # matches the quantum head's ansatz × layers
    "quantum": ("hidden",),
}


@dataclass(frozen=True)
class Cell:
    """One grid cell: its axis values and the full configuration they give.

    Attributes
    ----------
    settings : dict
        ``{"head.kind": "quantum", "reduce.n_qubits": 4, ...}``, one entry per grid axis.
    config : QserConfig
        The base config with the cell's settings applied.
    digest : str
        :meth:`QserConfig.digest` of :attr:`config` with the head fields its head kind never reads
        reset, so cells that would train the same model share one key (and one fit).
    """

    settings: dict[str, Any]
    config: QserConfig
    digest: str


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["head.kind=logreg,quantum", "reduce.n_qubits=2,4"]`` → ``{"head.kind": ["logreg", "quantum"], ...}``.

    Raises
    ------
    ConfigError
        An item without ``=``, an axis given twice, one with no values, an empty value (``=2,,4``) or a
        value listed twice (``=4,4``).

    Examples
    --------
    >>> parse_grid(["head.kind=logreg,quantum", "reduce.n_qubits=2,4"])
    {'head.kind': ['logreg', 'quantum'], 'reduce.n_qubits': ['2', '4']}
    """
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = [v.strip() for v in raw.split(",")]
        if not sep or "." not in key or not any(values):
            raise ConfigError(f"a grid axis must look like section.field=v1,v2,...; got {item!r}")
        if key in grid:
            raise ConfigError(f"grid axis {key} is given twice; list all its values in one --grid {key}=v1,v2")
        check_axis(key, values)
        grid[key] = values
    return grid


def check_axis(axis: str, values: Sequence[Any]) -> None:
    """Refuse an axis with an empty value or a value listed twice: either would run without a word.

    Raises
    ------
    ConfigError
        Naming the axis, the values received and what to write instead.
    """
    texts = [_raw(v).strip() for v in values]
    shown = ",".join(texts)
    if not texts:
        raise ConfigError(f"grid axis {axis} has no values; give at least one, e.g. {axis}=v1,v2")
    if "" in texts:
        raise ConfigError(f"grid axis {axis} has an empty value ({axis}={shown}); remove the extra comma")
    twice = sorted({t for t in texts if texts.count(t) > 1})
    if twice:
        unique = ",".join(dict.fromkeys(texts))
        raise ConfigError(f"grid axis {axis} lists {', '.join(twice)} more than once ({axis}={shown}); "
                          f"give each value once: {axis}={unique}")


def read_sweep_toml(path: str | os.PathLike) -> tuple[QserConfig, dict[str, list[Any]], str | None]:
    """A sweep file: config tables as usual plus an optional ``[sweep]`` table of axes.

    The ``[sweep]`` table holds an optional ``name`` and one sub-table per config section whose
    fields list their values, e.g. ``[sweep.reduce] n_qubits = [2, 4, 8]``.

    Returns
    -------
    base : QserConfig
    grid : dict
        ``"section.field"`` → list of values.
    name : str or None
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist; write a TOML file with a [sweep] table")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sweep file {path} is not valid TOML: {exc}") from exc
    table = values.pop("sweep", {})  # a plain config file is a sweep of one cell
    if not isinstance(table, dict):
        raise ConfigError(f"[sweep] in {path} must be a table, e.g. [sweep.reduce] n_qubits = [2, 4]; got {table!r}")
    name = table.pop("name", None)
    grid = {}
    for section, axes in table.items():
        if not isinstance(axes, dict):
            raise ConfigError(f"[sweep] entry {section!r} must be a table such as [sweep.{section}]; got {axes!r}")
        for key, vals in axes.items():
            grid[f"{section}.{key}"] = list(vals) if isinstance(vals, list) else [vals]
    return QserConfig.from_dict(values), grid, name


def effective_config(config: QserConfig) -> QserConfig:
    """``config`` with the head fields its head kind never reads reset to their defaults."""
    defaults = QserConfig().head
    unused = _UNUSED_HEAD_FIELDS.get(config.head.kind, ())
    return config.replace("head", **{k: getattr(defaults, k) for k in unused})


def expand_grid(base: QserConfig, grid: Mapping[str, Sequence[Any]]) -> list[Cell]:
    """Every combination of the axes' values applied to ``base``, in axis order (the last varies fastest).

    Raises
    ------
    ConfigError
        An unknown field or a value the config refuses (checked for every cell before anything runs),
        an empty or repeated value on an axis (:func:`check_axis`), or more than :data:`MAX_CELLS` cells.

    Examples
    --------
    >>> cells = expand_grid(QserConfig(), {"reduce.n_qubits": ["2", "4"], "head.n_layers": [1, 2]})
    >>> [(c.config.reduce.n_qubits, c.config.head.n_layers) for c in cells]
    [(2, 1), (2, 2), (4, 1), (4, 2)]
    >>> len({c.digest for c in expand_grid(QserConfig(), {"head.kind": ["logreg"], "head.n_layers": [1, 2]})})
    1
    """
    axes = list(grid)
    for axis in axes:
        check_axis(axis, grid[axis])
    n_cells = int(np.prod([len(v) for v in grid.values()])) if axes else 1
    if n_cells > MAX_CELLS:
        raise ConfigError(f"the grid has {n_cells} cells; at most {MAX_CELLS} are allowed. Use fewer values per axis")
    cells = []
    for combo in itertools.product(*(grid[a] for a in axes)):
        config = base.with_overrides([f"{a}={_raw(v)}" for a, v in zip(axes, combo)])
        settings = {a: _value(config, a) for a in axes}
        cells.append(Cell(settings=settings, config=config, digest=effective_config(config).digest()))
    return cells


def _raw(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def _value(config: QserConfig, axis: str) -> Any:
    section, name = axis.split(".", 1)
    value = getattr(getattr(config, section), name)
    return list(value) if isinstance(value, tuple) else value


def sweep_name(base: QserConfig, grid: Mapping[str, Sequence[Any]]) -> str:
    """Default name: the same base config and grid always give the same name (so a re-run resumes)."""
    text = json.dumps([base.digest(), {k: [str(v) for v in vals] for k, vals in grid.items()}], sort_keys=True)
    return f"sweep-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

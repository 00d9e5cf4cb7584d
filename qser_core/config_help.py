"""Help for every config field, read from the one-line comment beside the field in :mod:`qser_core.config`.

The comment that documents a field in the source is its help text: the dashboard's "All settings"
shows it beside each widget, so meaning and unit are written once.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import tokenize
import typing

from qser_core import config as config_module

__all__ = ["field_help"]


@functools.cache
def field_help() -> dict[tuple[str, str], str]:
    """``{(section, field): comment}`` for every field of :class:`~qser_core.config.QserConfig`.

    Returns
    -------
    dict of (str, str) to str
        The comment beside each field's line (empty when a field has none).

    Examples
    --------
    >>> field_help()["audio", "sr"]
    'sampling rate every clip is resampled to (Hz)'
    """
    source = inspect.getsource(config_module)
    comments = {token.start[0]: token.string.lstrip("#").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT}
    classes = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
    found = {}
    for section, section_cls in typing.get_type_hints(config_module.QserConfig).items():
        lines = {stmt.target.id: stmt.end_lineno for stmt in classes[section_cls.__name__].body
                 if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)}
        for field in section_cls.__dataclass_fields__:
            found[section, field] = comments.get(lines.get(field, -1), "")
    return found

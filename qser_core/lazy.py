"""Public names of a package imported on first use (PEP 562), so importing the package stays cheap.

A package lists ``{name: submodule}`` and installs the two module-level hooks this returns::

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose names in ``exports`` live in its submodules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict
        Public name → submodule (relative to ``package``) that defines it.
    namespace : dict
        The package's ``globals()``: a name, once imported, is kept there, so later look-ups skip the hook.
    """
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *exports])

    return __getattr__, __dir__

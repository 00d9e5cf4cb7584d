"""The doctest examples in qser_core's docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import qser_core


def test_docstring_examples_of_every_module():
    failures, attempted = {}, 0
    for info in pkgutil.walk_packages(qser_core.__path__, "qser_core."):
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        attempted += result.attempted
        if result.failed:
            failures[info.name] = f"{result.failed} of {result.attempted}"
    assert attempted > 20, f"only {attempted} doctest examples found: the docstrings lost their examples"
    assert not failures, f"doctest examples failed: {failures}"

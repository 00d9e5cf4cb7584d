"""Lazy public names (qser_core/lazy.py): imported on first use, kept once imported, unknown names refused."""

from __future__ import annotations

import types

import pytest

from qser_core.lazy import lazy_exports


def _package(exports):
    package = types.ModuleType("qser_core")  # a real package whose submodules the hooks import
    package.__getattr__, package.__dir__ = lazy_exports("qser_core", exports, vars(package))
    return package


class TestLazyExports:
    def test_a_name_is_imported_on_first_use_and_kept(self):
        package = _package({"RunContext": "progress"})
        assert "RunContext" not in vars(package)
        from qser_core.progress import RunContext

        assert package.__getattr__("RunContext") is RunContext and vars(package)["RunContext"] is RunContext
        assert "RunContext" in package.__dir__()

    def test_an_unknown_name_is_an_attribute_error_naming_the_package(self):
        with pytest.raises(AttributeError, match="module 'qser_core' has no attribute 'nope'"):
            _package({}).__getattr__("nope")

    def test_the_packages_that_use_it_offer_every_listed_name(self):
        import qser_core.data as data

        assert set(data.__all__) <= set(dir(data)) and data.load_corpus.__module__ == "qser_core.data.corpus"

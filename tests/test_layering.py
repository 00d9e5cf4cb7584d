"""The stages of ``qser_core`` import down the pipeline, never up (docs/architecture.md, "Layout").

Imports are read from the source (``import``/``from`` anywhere in a module, lazy ones inside functions
included) together with ``"qser_core.module:attribute"`` strings, which registries resolve at run time
and which a cycle check of import statements alone would not see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qser_core"
#: The stages in pipeline order; a module may import its own stage and earlier ones. ``base`` is config,
#: errors, progress and the package's own ``__init__``.
STAGES = ("base", "data", "features", "heads", "tracking", "experiments", "hardware", "cli")
#: Inside ``experiments``, in order: the shared modules (pipeline, tuning, metrics), what training produces, how it
#: is produced, and the grids that run the protocols.
EXPERIMENT_FOLDERS = ("shared", "models", "protocols", "sweeps")


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "base"


def experiments_folder(module: str) -> str:
    parts = module.split(".")
    inside = len(parts) > 2 and parts[1] == "experiments" and parts[2] in EXPERIMENT_FOLDERS
    return parts[2] if inside else "shared"


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def references(path: Path) -> set[str]:
    """Every ``qser_core`` module ``path`` imports or names as ``"module:attribute"``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ":" in node.value:
            target = node.value.split(":")[0]
            if target.startswith("qser_core.") and target.replace(".", "").replace("_", "").isalnum():
                found.add(target)
    return {name for name in found if name == "qser_core" or name.startswith("qser_core.")}


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        own = STAGES.index(stage_of(name))
        for target in sorted(references(path)):
            if STAGES.index(stage_of(target)) > own:
                out.append(f"{name} ({stage_of(name)}) -> {target} ({stage_of(target)})")
    return out


class TestLayering:
    def test_every_stage_is_listed(self):
        folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
        assert folders <= set(STAGES), f"add the new stage to STAGES and docs/architecture.md: {folders - set(STAGES)}"

    def test_no_stage_imports_a_later_one(self):
        assert violations() == []

    def test_inside_experiments_models_protocols_and_sweeps_import_down(self):
        wrong = []
        for path in sorted((PACKAGE / "experiments").rglob("*.py")):
            name = module_name(path)
            own = EXPERIMENT_FOLDERS.index(experiments_folder(name))
            wrong += [f"{name} -> {target}" for target in sorted(references(path))
                      if stage_of(target) == "experiments"
                      and EXPERIMENT_FOLDERS.index(experiments_folder(target)) > own]
        assert wrong == []

    def test_the_library_never_imports_the_dashboard(self):
        wrong = []
        for path in sorted(PACKAGE.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
            wrong += [f"{module_name(path)} -> {n}" for n in sorted(names) if n.split(".")[0] in ("streamlit", "app_support")]
        assert wrong == []

    @pytest.mark.parametrize("source, expected", [
        ("from qser_core.hardware.run import plan", {"qser_core.hardware.run"}),
        ("def f():\n    import qser_core.cli", {"qser_core.cli"}),
        ("REGISTRY = {'x': 'qser_core.hardware.executor:aer_noisy'}", {"qser_core.hardware.executor"}),
        ("TEXT = 'see qser_core: a note'", set()),
    ])
    def test_lazy_imports_and_registry_strings_are_seen(self, tmp_path, source, expected):
        path = tmp_path / "m.py"
        path.write_text(source)
        assert references(path) == expected

"""requirements.txt lists exactly the pinned dependencies of pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines: list[str]) -> dict[str, str]:
    """``{normalised name: specifier}`` of requirement lines (comments and blank lines skipped)."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            found[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return found


class TestRequirements:
    def test_same_set_as_pyproject(self):
        declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
        listed = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
        assert _requirements(listed) == _requirements(declared), (
            "requirements.txt and [project].dependencies of pyproject.toml differ; copy the dependency list over")

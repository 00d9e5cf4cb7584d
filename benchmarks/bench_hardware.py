"""Row 4, noisy evaluation: ``python -m benchmarks --only hardware``.

1,000 clips × 1,024 shots through the noisy executor on a fake 127-qubit backend: seconds and the
number of primitive jobs (target 1 job, < 30 s). Measured once ``qser_core.hardware`` exists in this
checkout; until then the row is skipped, saying so.
"""

from __future__ import annotations

from benchmarks.common import skipped

NAME = "noisy evaluation, 1,000 clips × 1,024 shots, fake 127-qubit backend"


def run(quick: bool) -> list[dict]:
    try:
        import qser_core.hardware  # noqa: F401
    except ImportError:
        return [skipped(NAME, "not available: qser_core.hardware is not in this checkout yet", unit="s")]
    return [skipped(NAME, "not available: qser_core.hardware exists but this row is not wired to it yet", unit="s")]

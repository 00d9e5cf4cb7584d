"""A new user's first hour on the command line: the README's commands in order, on a fresh ``QSER_HOME``.

Each command runs as its own ``qser`` process (``python -m qser_core.cli``), as a user types it, with the
default settings (the quantum head's tuning search included). Every one must exit 0 and print no Python
traceback; later commands use what earlier ones made (the model folder, the recorded runs). Where a README
command would take an hour on two cores (the full sweep grid, every test clip on a noisy simulator) it
runs with fewer values, said beside it; ``evaluate`` runs one head (logistic regression, the run that broke
``qser runs``), and ``compare`` comes after the sweep, whose runs it compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


class Journey:
    """Runs ``qser`` commands in one fresh home and keeps what each printed."""

    def __init__(self, home: Path) -> None:
        # A user's shell: no test-session MLflow variables, the project on the path, a fresh home.
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_"))},
                    "QSER_HOME": str(home), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}

    def __call__(self, *args: str) -> str:
        """Run ``qser ARGS``; fail on a non-zero exit or a traceback; return stdout."""
        result = subprocess.run([sys.executable, "-m", "qser_core.cli", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=900)
        where = f"qser {' '.join(args)} (exit {result.returncode})\n--- stderr ---\n{result.stderr[-4000:]}"
        assert result.returncode == 0, where
        assert "Traceback" not in result.stdout + result.stderr, where
        for noise in ("Token authentication", "(raylet)", "Started a local Ray instance"):  # Ray's own lines
            assert noise not in result.stdout + result.stderr, where
        return result.stdout

    def json(self, *args: str) -> dict:
        """``qser ARGS --json``: exactly one JSON object on stdout."""
        return json.loads(self(*args, "--json"))


def test_readme_commands_in_order(tmp_path):
    qser = Journey(tmp_path / "home")
    model, corpus = tmp_path / "model", tmp_path / "demo"

    assert "sweep" in qser("--help")
    assert "[train]" in qser("config", "show")
    # Command line table, top to bottom
    assert json.loads(qser("data", "demo", "--out", str(corpus), "--json"))["n_clips"] > 0
    assert "ANG" in qser("data", "index", str(corpus))
    qser("extract")
    assert qser.json("evaluate", "--head", "logreg")["ua"] > 0  # a classical run recorded (it broke `qser runs`)
    trained = qser.json("train", "--head", "quantum", "--out", str(model))  # default settings: tuning included
    assert trained
    clip = next(iter(sorted(corpus.glob("*.wav"))))
    assert "ANG" in qser("predict", str(clip), "--model", str(model))
    runs = qser.json("runs")["runs"]
    assert {"logreg", "quantum"} <= {r["head"] for r in runs}
    qser("runs")
    qser("runs", "show", runs[0]["run_id"])
    # IBM Quantum and device noise, offline (the fake backends); --clips 24 instead of every test clip
    qser("hardware", "backends")
    assert qser.json("hardware", "run", "--model", str(model), "--backend", "ibm_brisbane", "--fake", "--shots",
                     "1024", "--recalibrate", "100", "--clips", "24")
    qser("hardware", "status")
    # Sweeps on Ray: the README's grid, narrowed to 2 heads × 2 qubit counts, 2 folds, 1 seed
    swept = qser.json("sweep", "--grid", "head.kind=logreg,mlp-matched", "--grid", "reduce.n_qubits=2,4",
                      "--folds", "2", "--seeds", "1", "--name", "qubits")
    assert swept["status"] == "finished" and len(swept["configurations"]) == 4
    assert "qubits" in qser("sweep", "show", "qubits")
    assert "qubits" in qser("sweep", "list")
    # compare: two of the sweep's runs, scored on the same clips (after the sweep, which made them)
    qser("compare", *(c["run_id"] for c in swept["configurations"][:2]))
    qser("runs")  # every kind of run recorded now: evaluate, train, hardware, sweep

"""The benchmarks (``benchmarks/``, ``qser bench``): result schema, verdicts, README table, Qiskit reference circuit.

No test here asserts a timing: speed targets are the benchmarks' own verdicts, not test outcomes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.common import ROW_KEYS, VERDICTS, row, skipped
from benchmarks.readme_table import ACCURACY_MARKERS, END, START, newest, render, render_accuracy, update

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path = ROOT, pythonpath: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _check_report(report: dict) -> None:
    for key in ("date", "machine", "packages", "git", "quick", "rows"):
        assert key in report, key
    for key in ("host", "cpu", "cores", "memory_gib", "torch_threads"):
        assert report["machine"][key] not in (None, ""), key
    assert report["packages"]["torch"] and report["packages"]["pennylane"]
    for r in report["rows"]:
        assert list(r)[: len(ROW_KEYS)] == list(ROW_KEYS), r["name"]
        assert r["verdict"] in VERDICTS, r
        if r["verdict"] in ("skipped", "error"):
            assert r["why"], r
            continue
        assert isinstance(r["value"], float) and r["value"] > 0, r
        if r["reference"] is not None:
            assert r["reference_value"] > 0 and r["ratio"] > 0, r


class TestRow:
    def test_ratio_target(self):
        assert row("x", value=1.0, unit="s", ratio=6.0, target=(">=", 5, "ratio"))["verdict"] == "pass"
        failed = row("x", value=1.0, unit="s", ratio=4.0, target=(">=", 5, "ratio"))
        assert failed["verdict"] == "fail" and failed["target"] == "ratio >= 5x"

    def test_value_target(self):
        assert row("x", value=2.5, unit="s", target=("<=", 2, "value"))["verdict"] == "fail"
        assert row("x", value=1.5, unit="s", target=("<=", 2, "value"))["target"] == "value <= 2 s"

    def test_no_target_is_information(self):
        assert row("x", value=1.0, unit="s")["verdict"] == "info"

    def test_keys_and_skipped(self):
        r = skipped("x", "not available: y")
        assert tuple(r)[: len(ROW_KEYS)] == ROW_KEYS and r["verdict"] == "skipped" and r["value"] is None


class TestReadmeTable:
    def _report(self, quick: bool = False, date: str = "2026-11-30T16:05:00+00:00") -> dict:
        return {"date": date, "quick": quick, "git": {"commit": "abcdef1234567", "dirty": False},
                "machine": {"host": "vm", "cpu": "AMD EPYC", "cores": 2, "memory_gib": 23.5, "torch_threads": 2,
                            "load_average_1m": 0.4},
                "rows": [row("extraction", value=151.2, unit="clips/s", reference="per-clip loop",
                             reference_value=17.0, ratio=8.9, target=(">=", 40, "value")),
                         row("whole protocol", value=86.9, unit="s", reference="matched MLP", reference_value=14.4),
                         skipped("noisy evaluation", "not available: qser_core.hardware")]}

    def test_render_states_run_and_rows(self):
        block = render(self._report(), source="benchmarks/results/x.json")
        assert "2026-11-30 16:05 UTC" in block and "AMD EPYC, 2 cores" in block and "abcdef1234" in block
        assert "| extraction | 151 clips/s | per-clip loop: 17 clips/s | 8.9× | value >= 40 clips/s | pass |" in block
        assert "skipped: not available: qser_core.hardware" in block
        assert "| whole protocol |" not in block  # rows without a target: one sentence under the table
        assert block.endswith("Measured without a target: whole protocol 86.9 s (matched MLP: 14.4 s).")

    def test_update_replaces_only_between_markers(self, tmp_path):
        readme = tmp_path / "README.md"
        readme.write_text(f"# T\nbefore\n{START}\nold table\n{END}\nafter\n")
        text = update(readme, "new table")
        assert text == f"# T\nbefore\n{START}\nnew table\n{END}\nafter\n"

    def test_missing_markers_are_refused(self, tmp_path):
        readme = tmp_path / "README.md"
        readme.write_text("# no markers\n")
        with pytest.raises(SystemExit, match="lacks the markers"):
            update(readme, "x")

    def test_newest_full_run_ignores_quick_runs_and_accuracy_reports(self, tmp_path):
        (tmp_path / "a.json").write_text(json.dumps(self._report(date="2026-11-30T10:00:00+00:00")))
        (tmp_path / "b-quick.json").write_text(json.dumps(self._report(quick=True, date="2026-11-30T12:00:00+00:00")))
        accuracy = {"date": "2026-11-30T13:00:00+00:00", "quick": False, "rows": []}  # no machine block
        (tmp_path / "accuracy-20261130-1300.json").write_text(json.dumps(accuracy))
        assert newest(tmp_path).name == "a.json"

    def test_readme_has_markers(self):
        text = (ROOT / "README.md").read_text(encoding="utf-8")
        assert text.index(START) < text.index(END)
        assert text.index(ACCURACY_MARKERS[0]) < text.index(ACCURACY_MARKERS[1])

    def test_accuracy_resume_keeps_finished_groups(self):
        from benchmarks.accuracy import _finished_groups

        rows = [row("EmoDB UA, logreg, k=4", value=0.47, unit="UA"),
                row("quantum − mlp-matched UA, k=4 (paired over fold × seed)", value=0.0, unit="UA points"),
                {**row("EmoDB UA, logreg, k=8", value=None, unit="UA"), "verdict": "error"},
                row("EmoDB UA, mlp, k=8", value=0.5, unit="UA"),
                {**skipped("hybrid − frozen PQC UA (single split, k=8)", "ImportError"), "verdict": "error"}]
        assert {g: len(rs) for g, rs in _finished_groups(rows).items()} == {"k=4": 2}

    def test_accuracy_block(self):
        rows = [row("EmoDB UA, logreg, k=8", value=0.533, unit="UA", target=(">=", 0.51, "value"),
                    ua_ci95=[0.45, 0.615], params=54),
                row("quantum − mlp-matched UA, k=8 (paired over fold × seed)", value=-0.021, unit="UA points",
                    target=(">=", -0.05, "value"), ci95=[-0.06, 0.02], mcnemar={"p_value": 0.31}),
                skipped("hybrid − frozen PQC UA (single split, k=8)", "not run with --quick")]
        report = {"date": "2026-11-30T18:00:00+00:00", "seconds": 3000.0, "command": "python -m benchmarks.accuracy",
                  "quick": False, "rows": rows}
        block = render_accuracy(report, source="benchmarks/results/accuracy-x.json")
        assert "50 min by `python -m benchmarks.accuracy`" in block
        assert "| EmoDB UA, logreg, k=8 | 0.533 | [0.450, 0.615] | 54 |" in block
        assert "(McNemar p = 0.31) | -0.021 | [-0.060, 0.020] |" in block
        assert "skipped: not run with --quick" in block


class TestQiskitReference:
    @pytest.mark.parametrize("n_qubits,n_layers", [(3, 2), (4, 3)])
    def test_translated_circuit_matches_the_project_simulator(self, n_qubits, n_layers):
        """The EstimatorQNN reference runs the very circuit the torch simulator runs."""
        import torch
        from qiskit.quantum_info import SparsePauliOp, Statevector

        from benchmarks.bench_simulator import ANSATZ, ENCODING, qiskit_circuit
        from qser_core.heads.circuits import CircuitSpec
        from qser_core.heads.executors import get_executor

        spec = CircuitSpec(n_qubits, n_layers, encoding=ENCODING, ansatz=ANSATZ)
        x, w = spec.placeholder_angles(seed=n_qubits)
        qc, inputs, weights = qiskit_circuit(spec)
        state = Statevector(qc.assign_parameters(dict(zip(inputs + weights, [*x, *w.ravel()]))))
        ours = [state.expectation_value(SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], num_qubits=n_qubits)).real
                for q in range(n_qubits)]
        torch_executor = get_executor("torch", spec, dtype=torch.complex128)
        expected = torch_executor(torch.tensor(x[None]), torch.tensor(w)).detach().numpy()[0]
        np.testing.assert_allclose(ours, expected, atol=1e-9)


class TestCommand:
    def test_help(self, capsys):
        from qser_core.cli import main

        with pytest.raises(SystemExit) as exit_info:
            main(["bench", "--help"])
        assert exit_info.value.code == 0
        assert "--quick" in capsys.readouterr().out

    def test_qser_bench_runs_the_checkout_benchmarks(self):
        result = _run("-m", "qser_core.cli", "bench", "--list", "--json")
        assert result.returncode == 0, result.stderr
        listing = json.loads(result.stdout)  # exactly one JSON object on stdout
        assert listing["simulator"]["module"] == "benchmarks.bench_simulator"

    def test_unknown_row_is_a_usage_error(self):
        result = _run("-m", "qser_core.cli", "bench", "--only", "nonsense")
        assert result.returncode == 2 and "invalid choice: 'nonsense'" in result.stderr

    def test_outside_a_checkout_says_so(self, tmp_path):
        site = tmp_path / "site"
        shutil.copytree(ROOT / "qser_core", site / "qser_core", ignore=shutil.ignore_patterns("__pycache__"))
        result = _run("-m", "qser_core.cli", "bench", "--quick", cwd=tmp_path, pythonpath=site)
        assert result.returncode == 1
        assert "source checkout" in result.stderr and "Traceback" not in result.stderr

    def test_never_runs_a_benchmarks_package_of_the_current_folder(self, tmp_path):
        site = tmp_path / "site"
        shutil.copytree(ROOT / "qser_core", site / "qser_core", ignore=shutil.ignore_patterns("__pycache__"))
        planted = tmp_path / "work" / "benchmarks"
        planted.mkdir(parents=True)
        (planted / "__init__.py").write_text("")
        (planted / "__main__.py").write_text("print('planted benchmarks ran')\n")
        result = _run("-m", "qser_core.cli", "bench", "--quick", cwd=planted.parent, pythonpath=site)
        assert result.returncode == 1 and "planted benchmarks ran" not in result.stdout
        assert "source checkout" in result.stderr


@pytest.mark.slow
def test_quick_run_writes_the_schema(tmp_path):
    """``python -m benchmarks --quick``: every row module runs and the JSON has the agreed schema."""
    result = _run("-m", "benchmarks", "--quick", "--json", "--out", str(tmp_path))
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: a target missed, which is not a test failure
    report = json.loads(result.stdout)
    _check_report(report)
    assert report["quick"] is True
    assert not [r for r in report["rows"] if r["verdict"] == "error"], result.stderr[-3000:]
    modules = {r["module"] for r in report["rows"]}
    assert {"extract", "simulator", "protocol", "hardware", "predict", "dashboard", "hybrid"} <= modules
    assert [p.name for p in tmp_path.glob("*-quick.json")] == [Path(report["path"]).name]
    assert json.loads(Path(report["path"]).read_text()) == {k: v for k, v in report.items() if k != "path"}

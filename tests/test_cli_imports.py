"""``qser``'s parser is light: help and usage errors never wait for torch, PennyLane, Qiskit or MLflow.

Timings live in ``benchmarks/bench_cli.py``; this checks the behaviour that makes them fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from factories import UNTRACKED

#: What a command may import when it runs, never when the parser is built.
HEAVY = ("torch", "pennylane", "qiskit", "qiskit_aer", "qiskit_ibm_runtime", "sklearn", "mlflow", "ray", "librosa",
         "pandas", "scipy")


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(__import__('json').dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def _imported_after(code: str) -> list[str]:
    modules = _modules_after(code)
    return [name for name in HEAVY if name in modules]


class TestLightParser:
    def test_importing_the_cli_imports_nothing_heavy(self):
        assert _imported_after("import qser_core.cli") == []

    def test_building_every_subcommand_parser_imports_nothing_heavy(self):
        code = ("from qser_core.cli import build_parser\n"
                "parser = build_parser()\n"
                "for args in (['--help'], ['evaluate', '--help'], ['hardware', 'run', '--help'], ['sweep', '--help'],\n"
                "             ['evaluate', '--qubtis', '4']):\n"
                "    try:\n"
                "        parser.parse_args(args)\n"
                "    except SystemExit:\n"
                "        pass")
        assert _imported_after(code) == []


class TestConsole:
    def test_the_console_script_returns_mains_status_and_freezes_only_then(self):
        code = ("import gc, sys\n"
                "from qser_core.cli import console, main\n"
                "assert main(['config', 'show']) == 0 and gc.get_freeze_count() == 0\n"
                "sys.argv = ['qser', 'config', 'show']\n"
                "assert console() == 0 and gc.get_freeze_count() > 0")
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)


class TestLightPredict:
    def test_a_classical_model_predicts_without_pennylane(self, tmp_path):
        from qser_core.config import QserConfig
        from qser_core.experiments.protocols.single import train_model

        config = QserConfig().with_overrides(["head.kind=logreg", "train.tune=false", "train.epochs=2"])
        folder = train_model(config, context=UNTRACKED).save(tmp_path / "model")
        code = ("import qser_core.heads\n"
                "from qser_core.experiments.models.trained import load_model\n"
                f"load_model({str(folder)!r})")
        assert "pennylane" not in _imported_after(code)
        assert "qiskit" not in _imported_after(code)
        # nor what only fitting or indexing needs (0.15 s of the cold `qser predict`, measured with -X importtime)
        assert not {"qser_core.data.corpus", "sklearn.decomposition", "sklearn.cross_decomposition"} & _modules_after(code)

    def test_the_heads_package_still_offers_every_name(self):
        code = ("import qser_core.heads as heads\n"
                "assert sorted(heads.__all__) == sorted(n for n in heads.__all__ if getattr(heads, n) is not None)\n"
                "assert 'CircuitSpec' in dir(heads)")
        assert "pennylane" in _imported_after(code)  # reaching CircuitSpec imports it, and only then

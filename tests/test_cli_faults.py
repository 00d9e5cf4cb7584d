"""Storage faults and bad input through the ``qser`` command line (issue 21).

Each case runs ``python -m qser_core.cli`` as a user would and checks the exit code, the message, that no
Python traceback is printed and that nothing already computed (embedding cache, run store) was lost. Root
ignores file permissions, so as root the commands run without the two capabilities that let it
(``setpriv``): read-only folders and unreadable files are then real. A full disk is a small tmpfs (root only).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FAST = ["--set", "train.epochs=2", "--set", "train.patience=2", "--set", "train.tune=false", "--qubits", "4",
        "--layers", "1"]

pytestmark = pytest.mark.slow


def _without_root_override() -> list[str]:
    """Command prefix under which file permissions apply (root keeps its uid but not DAC override)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def qser(*args: str, home: Path | str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, "QSER_HOME": str(home),
           "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    return subprocess.run([*_without_root_override(), sys.executable, "-m", "qser_core.cli", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=900)


def check(result: subprocess.CompletedProcess, code: int, message: str | None = None) -> None:
    """Exit code, message (a regex on stderr) and no traceback."""
    assert result.returncode == code, (result.args, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr[-2000:]
    if message:
        assert re.search(message, result.stderr), (message, result.stderr[-2000:])


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under ``folder``: equal before and after means nothing was lost or changed."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock")}


@contextlib.contextmanager
def read_only(home: Path):
    """Every folder of ``home`` and its run store made read-only (the clips' own files untouched: ctime keeps)."""
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    db = home / "mlflow.db"
    for path in (*folders, db):
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        yield
    finally:
        for path in (*folders, db):
            path.chmod(path.stat().st_mode | 0o200)


@contextlib.contextmanager
def full_disk(path: Path, size: str = "2m"):
    """A small tmpfs at ``path`` (skipped where mounting is not allowed)."""
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


@pytest.fixture(scope="module")
def ready(qser_home, tmp_path_factory):
    """The session's home with the demo corpus, its embeddings and a run store, and one small saved model."""
    model = tmp_path_factory.mktemp("faults") / "model"
    check(qser("extract", home=qser_home), 0)
    check(qser("runs", home=qser_home), 0)
    check(qser("train", "--head", "logreg", "--no-track", "--out", str(model), *FAST, home=qser_home), 0)
    demo = next(p for p in (qser_home / "demo").iterdir() if p.is_dir() and not p.name.startswith("."))
    return SimpleNamespace(home=qser_home, model=model, demo=demo, clip=next(demo.glob("*_ANG_*.wav")))


class TestStorage:
    def test_read_only_home(self, ready):
        before = snapshot(ready.home / "embeddings"), (ready.home / "mlflow.db").read_bytes()
        with read_only(ready.home):
            check(qser("runs", home=ready.home), 0)  # a pure read: no lock file, no write
            result = qser("extract", home=ready.home)  # every embedding is cached: nothing to write
            check(result, 0)
            assert "864 clips" in result.stdout
            for command in (["evaluate", "--head", "logreg", *FAST], ["train", "--out", str(ready.model.parent / "m2")]):
                check(qser(*command, home=ready.home), 1, r"QSER_HOME .* is read-only: use --no-track or another "
                                                          r"QSER_HOME")
        assert (snapshot(ready.home / "embeddings"), (ready.home / "mlflow.db").read_bytes()) == before

    def test_home_that_is_a_file_or_read_only_and_empty(self, tmp_path):
        target = tmp_path / "home.txt"
        target.write_text("x")
        for command in (["extract"], ["runs"], ["evaluate", "--head", "logreg"]):
            check(qser(*command, home=target), 1, r"home.txt is a file, not a folder; set QSER_HOME to a folder")
        assert target.read_text() == "x"
        empty = tmp_path / "empty"
        empty.mkdir(mode=0o555)
        check(qser("extract", home=empty), 1, r"empty is read-only and the demo corpus is not made yet: use another "
                                              r"QSER_HOME")
        check(qser("runs", home=empty), 1, r"run store .* cannot be created or written: .* is read-only: use --no-track")
        assert not list(empty.iterdir())

    def test_full_disk_is_refused_before_the_work(self, ready, tmp_path):
        with full_disk(tmp_path / "full") as disk:
            check(qser("extract", "--data-dir", str(ready.demo), home=disk), 1,
                  rf"no space left on {re.escape(str(disk))} for the embeddings of 864 clips: need ~10 MB")
            check(qser("train", "--head", "logreg", "--no-track", "--out", str(disk / "model"), *FAST,
                       home=ready.home), 1, rf"no space left on {re.escape(str(disk))} for the saved model")
            assert not [p for p in disk.rglob("*") if p.is_file()]  # no temporary chunk keeps the disk full

    def test_half_created_store_is_made_again(self, tmp_path):
        home = tmp_path / "home"
        home.mkdir()
        con = sqlite3.connect(home / "mlflow.db")  # a kill during the very first command's migrations
        con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        con.commit()
        con.close()
        result = qser("runs", home=home)
        check(result, 0, r"mlflow.db was left half-created .* held no runs; it is made again")
        assert "no runs recorded yet" in result.stdout and list(home.glob("mlflow.db.unfinished-*"))
        check(qser("runs", home=home), 0)  # and stays usable


class TestPredict:
    def test_clip_and_model_faults(self, ready, tmp_path):
        import soundfile as sf

        odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav")  # a Latin-1 name, not UTF-8
        shutil.copy(ready.clip, odd)
        unreadable = tmp_path / "noread.wav"
        shutil.copy(ready.clip, unreadable)
        unreadable.chmod(0)
        loop = tmp_path / "loop.wav"
        loop.symlink_to(loop)
        y = 0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000)
        sf.write(tmp_path / "cancel.wav", np.stack([y, -y], axis=1), 16000)
        locked = tmp_path / "locked-model"
        shutil.copytree(ready.model, locked)
        locked.chmod(0)
        edited = tmp_path / "edited-model"
        shutil.copytree(ready.model, edited)
        text = (edited / "manifest.json").read_text()
        (edited / "manifest.json").write_text(text.replace('"lr": 0.05', '"lr": 0.06'))
        assert text != (edited / "manifest.json").read_text()
        model = str(ready.model)
        cases = [
            ([odd, "--model", model, "--json"], 0, None),
            ([str(unreadable), "--model", model], 1, r"noread.wav cannot be read \(Permission denied\)"),
            ([str(loop), "--model", model], 1, r"loop.wav is a symbolic link loop"),
            ([str(tmp_path / "cancel.wav"), "--model", model], 1, r"cancel.wav has sound in its 2 channels .* cancel"),
            ([str(ready.clip), "--model", str(locked)], 1, r"locked-model cannot be read \(permission denied\)"),
            ([str(ready.clip), "--model", str(edited)], 1, r"manifest.json of model folder .*edited-model was changed"),
            ([str(ready.clip), "--model", model, "--set", "head.encoding=angle-rx"], 0,
             r"--set is not used by predict: a saved model carries its own configuration"),
        ]
        try:
            for args, code, message in cases:
                result = qser("predict", *args, home=ready.home)
                check(result, code, message)
                if code == 0:
                    assert json.loads(result.stdout.splitlines()[-1] if "--json" in args else "{}") is not None
        finally:
            locked.chmod(0o755)


class TestInputs:
    def test_config_and_argument_errors(self, tmp_path):
        cases = [
            (["config", "show", "--set", "data.split_seed=-3"], r"data.split_seed must be between 0 and 4294967295; got -3"),
            (["config", "show", "--config", str(tmp_path)], r"is a folder, not a TOML file"),
            (["hardware", "run", "--model", "m", "--layout", "a,b,c,d"], r"--layout: must be distinct physical qubit"),
            (["hardware", "run", "--model", "m", "--recalibrate", "-1"], r"--recalibrate: must be a whole number"),
            (["evaluate", "--qubits", "4", "--set", "reduce.n_qubits=100"], r"reduce.n_qubits must be between 2 and 12"),
        ]
        for args, message in cases:
            check(qser(*args, home=tmp_path / "home"), 2, message)
        assert not (tmp_path / "home" / "mlflow.db").exists()  # refused before any work

    def test_index_lists_what_it_passes_over(self, tmp_path):
        sys.path.insert(0, str(Path(__file__).parent))
        from factories import crema_folder, write_wav

        root = crema_folder(tmp_path / "corpus")
        write_wav(root / "extra" / "1004_DFA_ANG_XX.flac", fmt="FLAC")
        hidden = crema_folder(root / "locked", actors=(1005,))
        hidden.chmod(0)
        try:
            result = qser("data", "index", str(root), "--json", home=tmp_path / "home")
        finally:
            hidden.chmod(0o755)
        check(result, 0)
        skipped = dict(json.loads(result.stdout)["skipped"])
        assert "folder cannot be read (Permission denied)" in skipped[str(hidden)]
        assert ".flac audio is not read" in skipped[str(root / "extra" / "1004_DFA_ANG_XX.flac")]

"""Tests of qser_core.features.cache: writing as extraction goes, hard kills, full disks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from qser_core.errors import QserError
from qser_core.features.cache import (
    CacheWriteError,
    EmbeddingCache,
    cache_folder,
    cache_status,
)
from qser_core.features.embeddings import extract_embeddings

N = 7  # clips in the `table` fixture (conftest.py)


class TestWriteAsItGoes:
    def test_a_run_leaves_one_chunk(self, table, config):
        extract_embeddings(table, config)  # three batches, three chunks while it ran
        folder = cache_folder(config)
        assert [p.name for p in folder.glob("chunk-*.npy")] == list(json.loads((folder / "index.json").read_text())["chunks"])
        assert len(list(folder.glob("chunk-*.npy"))) == 1 and not list(folder.glob(".*.tmp"))

    def test_an_interrupted_run_keeps_every_finished_batch(self, table, config):
        def stop_after_two_batches(done, total, message):
            if done >= 6:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            extract_embeddings(table, config, progress=stop_after_two_batches)
        assert cache_status(table, config)["cached"] == 6

    @pytest.mark.slow
    def test_sigkill_loses_at_most_the_batch_in_flight(self, table, config, tmp_path):
        """A real SIGKILL (no handler, no finally) after the second batch: both batches are on disk."""
        script = textwrap.dedent(f"""
            import os, signal, pandas as pd
            from qser_core.config import QserConfig
            from qser_core.features.embeddings import extract_embeddings

            config = QserConfig.from_dict({config.to_dict()!r})
            table = pd.DataFrame({{"path": {list(table["path"])!r}}})

            def progress(done, total, message):
                if done >= 6:
                    os.kill(os.getpid(), signal.SIGKILL)

            extract_embeddings(table, config, progress=progress)
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, "QSER_HOME": str(tmp_path / "home")})
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert cache_status(table, config)["cached"] == 6
        computed = []
        extract_embeddings(table, config, progress=lambda d, t, m: computed.append(t - d))
        assert computed[0] == 1  # only the clip of the batch that never started


class TestWriteFailures:
    def test_full_disk_removes_the_temporary_file_and_says_how_much_is_needed(self, table, config):
        folder = cache_folder(config)
        folder.mkdir(parents=True)
        # The index is written through this temporary name; /dev/full fails every write with ENOSPC.
        tmp = folder / f".index.json.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.symlink_to("/dev/full")
        with pytest.raises(CacheWriteError, match=rf"no space left on {folder}, need ~\d+ MB") as info:
            extract_embeddings(table, config)
        assert isinstance(info.value, QserError) and isinstance(info.value, OSError)
        assert str(info.value).startswith("no space left on")
        assert not tmp.exists() and not tmp.is_symlink()
        assert not list(folder.glob("chunk-*.npy")) and not list(folder.glob(".*.tmp"))
        assert extract_embeddings(table, config).shape == (N, 2560)  # space back: the next run works

    def test_cache_folder_that_is_a_file_is_refused_before_any_work(self, table, config, tmp_path):
        (tmp_path / "cache").write_text("not a folder")
        calls = []
        with pytest.raises(CacheWriteError, match="cannot write the embedding cache folder"):
            extract_embeddings(table, config, progress=lambda d, t, m: calls.append(d))
        assert calls == [0]  # the lookup's report only: nothing was embedded

    def test_too_little_free_space_is_refused_before_any_work(self, tmp_path):
        cache = EmbeddingCache(tmp_path / "c")
        with pytest.raises(CacheWriteError, match=r"no space left on .*need ~\d+ MB, \d+ MB free"):
            cache.check_writable(2**62)
        cache.check_writable(1)

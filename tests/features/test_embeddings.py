"""Tests of qser_core.features.embeddings: extraction order, the on-disk cache and its failure modes."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from qser_core.features.backbones import get_backbone
from qser_core.config import QserConfig
from qser_core.features.embeddings import EmbeddingCache, cache_folder, cache_status, embed_waveforms, extract_embeddings
from qser_core.errors import AudioError, DataError

SR = 16000
N = 7  # clips in the test table


def _write_clip(path, freq, *, seed=0, seconds=0.4):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    y = 0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t)) + 0.005 * rng.standard_normal(len(t))
    sf.write(path, y.astype(np.float32), SR)
    return str(path)


@pytest.fixture
def config(tmp_path):
    # Short clips keep the CNN fast; batch_size 3 exercises several batches.
    return QserConfig().with_overrides(
        ["audio.duration=0.5", "embedding.batch_size=3", f"embedding.cache_dir={tmp_path / 'cache'}"]
    )


@pytest.fixture
def table(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    paths = [_write_clip(folder / f"clip{i:02d}.wav", 150 + 90 * i, seed=i) for i in range(N)]
    return pd.DataFrame({"path": paths, "emotion": ["NEU"] * N})


def _extract_counting(table, config):
    """Embeddings plus how many clips were computed (not read from the cache).

    The first progress report gives the number of cached clips, before any work.
    """
    calls = []
    emb = extract_embeddings(table, config, progress=lambda done, total, message: calls.append((done, total)))
    return emb, calls[0][1] - calls[0][0]


class TestExtract:
    def test_shape_order_and_values(self, table, config):
        calls = []
        emb = extract_embeddings(table, config, progress=lambda d, t, m: calls.append((d, t)))
        assert emb.shape == (N, 2560) and emb.dtype == np.float32 and np.isfinite(emb).all()
        assert calls[0] == (0, N) and calls[-1] == (N, N)
        assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
        # Same numbers as decoding and embedding the clips directly, row for row.
        from qser_core.data.audio import audio_kwargs, load_batch

        direct = embed_waveforms(load_batch(list(table["path"]), **audio_kwargs(config.audio)), config)
        assert np.allclose(emb, direct, atol=1e-4)
        reversed_table = table.iloc[::-1].reset_index(drop=True)
        assert np.array_equal(extract_embeddings(reversed_table, config), emb[::-1])

    def test_duplicate_rows_and_empty_table(self, table, config):
        doubled = pd.concat([table, table.iloc[:3]], ignore_index=True)
        emb = extract_embeddings(doubled, config)
        assert emb.shape == (N + 3, 2560) and np.array_equal(emb[N:], emb[:3])
        assert extract_embeddings(table.iloc[:0], config).shape == (0, 2560)

    def test_embed_waveforms_at_another_rate_gives_a_similar_embedding(self, table, config):
        from qser_core.data.audio import load_batch

        y16 = load_batch(list(table["path"][:2]), sr=16000, duration=0.5)
        y22 = load_batch(list(table["path"][:2]), sr=22050, duration=0.5)
        cfg22 = config.replace("audio", sr=22050)
        a, b = embed_waveforms(y16, config), embed_waveforms(y22, cfg22)
        assert a.shape == b.shape == (2, 2560)
        naive = get_backbone("efficientnet-lite0").embed(torch.from_numpy(y22)).numpy()  # 22.05 kHz read as 16 kHz
        # the mel bands are in Hz, so a backbone told the right rate stays closer to the 16 kHz
        # embedding than one that reads the same samples as 16 kHz (frames in samples still differ)
        assert np.corrcoef(a[0], b[0])[0, 1] > max(0.75, np.corrcoef(a[0], naive[0])[0, 1])
        assert embed_waveforms(y16[0], config).shape == (1, 2560)

    def test_missing_path_column(self, config):
        with pytest.raises(DataError, match=r"needs a 'path' column; got columns \['file'\]"):
            extract_embeddings(pd.DataFrame({"file": ["a.wav"]}), config)

    def test_missing_file(self, table, config, tmp_path):
        bad = pd.DataFrame({"path": [str(tmp_path / "gone.wav")]})
        with pytest.raises(DataError, match=r"gone.wav listed in the corpus table cannot be read"):
            extract_embeddings(bad, config)

    def test_corrupt_audio_names_the_file(self, table, config, tmp_path):
        broken = tmp_path / "clips" / "broken.wav"
        broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
        bad = pd.concat([table, pd.DataFrame({"path": [str(broken)]})], ignore_index=True)
        with pytest.raises(AudioError, match="broken.wav"):
            extract_embeddings(bad, config)
        # Batches of 3: the batch holding the broken clip fails, the batches before it are kept.
        assert cache_status(table, config)["cached"] == 3 * (N // 3)
        _, computed = _extract_counting(table, config)
        assert computed == N - 3 * (N // 3)


class TestOneRate:
    """``audio.sr`` is the rate of every path: extraction and single-clip prediction agree."""

    @pytest.fixture
    def config22(self, config):
        return config.with_overrides(["audio.sr=22050", "features.n_mels=96", "audio.top_db=30"])

    def test_extraction_equals_single_clip_prediction_at_a_non_default_setting(self, table, config22):
        from qser_core.data.audio import audio_kwargs, load_audio

        extracted = extract_embeddings(table, config22)
        for row in (0, N - 1):
            # what TrainedModel.embed does for one clip: load_audio at audio.sr, then embed_waveforms
            clip = load_audio(table["path"][row], **audio_kwargs(config22.audio))
            single = embed_waveforms(clip, config22)
            np.testing.assert_allclose(single[0], extracted[row], atol=1e-4)

    def test_the_backbone_runs_at_audio_sr(self, table, config, config22):
        from qser_core.features.embeddings import _backbone

        assert _backbone(config22).sr == 22050 and _backbone(config).sr == 16000
        assert not np.allclose(extract_embeddings(table, config22), extract_embeddings(table, config), atol=1e-3)


class TestCache:
    def test_second_run_reads_cache_only(self, table, config):
        first = extract_embeddings(table, config)
        status = cache_status(table, config)
        assert status == {"cached": N, "total": N, "folder": str(cache_folder(config))}
        again, computed = _extract_counting(table, config)
        assert computed == 0 and np.array_equal(first, again)

    def test_changed_file_recomputes_only_that_clip(self, table, config):
        first = extract_embeddings(table, config)
        _write_clip(table["path"][3], 2000.0, seed=99)
        assert cache_status(table, config)["cached"] == N - 1
        second, computed = _extract_counting(table, config)
        assert computed == 1
        assert np.array_equal(np.delete(first, 3, 0), np.delete(second, 3, 0))
        assert not np.allclose(first[3], second[3])

    def test_touched_file_is_not_recomputed(self, table, config):
        first = extract_embeddings(table, config)
        st = os.stat(table["path"][0])
        os.utime(table["path"][0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        second, computed = _extract_counting(table, config)
        assert computed == 0 and np.array_equal(first, second)
        assert cache_status(table, config)["cached"] == N

    def test_changed_setting_uses_another_folder(self, table, config):
        extract_embeddings(table, config)
        other = config.with_overrides(["features.n_mels=32"])
        assert cache_folder(other) != cache_folder(config)
        assert cache_status(table, other)["cached"] == 0
        assert cache_folder(config.with_overrides(["embedding.batch_size=8"])) == cache_folder(config)

    def test_truncated_chunk_is_rebuilt_with_warning(self, table, config):
        first = extract_embeddings(table, config)
        chunk = next(cache_folder(config).glob("chunk-*.npy"))
        chunk.write_bytes(chunk.read_bytes()[:1000])
        with pytest.warns(UserWarning, match=r"chunk-.*\.npy is corrupt: its checksum does not match"):
            again = extract_embeddings(table, config)
        assert np.allclose(first, again, atol=1e-5)
        assert not chunk.exists() or chunk.name not in json.loads((cache_folder(config) / "index.json").read_text())["chunks"]
        _, computed = _extract_counting(table, config)
        assert computed == 0

    def test_wrong_shape_chunk_is_detected(self, table, config):
        extract_embeddings(table, config)
        folder = cache_folder(config)
        index = json.loads((folder / "index.json").read_text())
        name = next(iter(index["chunks"]))
        np.save(folder / name, np.zeros((N, 7), np.float32))
        import hashlib

        index["chunks"][name]["sha256"] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        (folder / "index.json").write_text(json.dumps(index))
        with pytest.warns(UserWarning, match=rf"has shape \({N}, 7\) float32, expected \({N}, 2560\) float32"):
            assert extract_embeddings(table, config).shape == (N, 2560)

    def test_garbled_index_is_rebuilt(self, table, config):
        first = extract_embeddings(table, config)
        (cache_folder(config) / "index.json").write_text("{not json")
        with pytest.warns(UserWarning, match=r"index.json is unreadable .*rebuilding the cache"):
            again = extract_embeddings(table, config)
        assert np.allclose(first, again, atol=1e-5)
        assert cache_status(table, config)["cached"] == N

    def test_missing_chunk_file(self, table, config):
        extract_embeddings(table, config)
        for chunk in cache_folder(config).glob("chunk-*.npy"):
            chunk.unlink()
        with pytest.warns(UserWarning, match="the file is missing"):
            assert extract_embeddings(table, config).shape == (N, 2560)

    def test_many_runs_are_compacted(self, table, config):
        for i in range(len(table)):
            extract_embeddings(table.iloc[: i + 1], config)  # one new chunk per run
        cache = EmbeddingCache(cache_folder(config))
        cache._compact()
        assert len(list(cache_folder(config).glob("chunk-*.npy"))) == 1
        assert cache_status(table, config)["cached"] == N


class TestSpeed:
    @pytest.mark.slow
    def test_cached_lookup_of_crema_d_sized_corpus_is_fast(self, tmp_path, config):
        # 7,442 clips (CREMA-D) with a synthesised cache: the second run must be one index
        # read plus chunk reads, no per-clip file opens (< 2 s).
        folder = tmp_path / "many"
        folder.mkdir()
        paths = []
        for i in range(7442):
            p = folder / f"{i:04d}.wav"
            p.write_bytes(b"")
            paths.append(str(p))
        table = pd.DataFrame({"path": paths})
        from qser_core.features.embeddings import _identities

        idents = _identities([os.path.abspath(p) for p in paths])
        vectors = np.random.default_rng(0).standard_normal((7442, 2560)).astype(np.float32)
        cache = EmbeddingCache(cache_folder(config))
        cache.add(idents, [""] * 7442, vectors, backbone="efficientnet-lite0")
        start = time.perf_counter()
        emb = extract_embeddings(table, config)
        seconds = time.perf_counter() - start
        assert np.array_equal(emb, vectors)
        assert seconds < 2.0, f"cached extraction of 7,442 clips took {seconds:.2f} s"

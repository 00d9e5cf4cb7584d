"""Tests of qser_core.features.embeddings: extraction order, the on-disk cache and its failure modes."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from qser_core.features.backbones import get_backbone
from qser_core.features.embeddings import EmbeddingCache, cache_folder, cache_status, embed_waveforms, extract_embeddings
from qser_core.errors import AudioError, DataError
from factories import write_tone

SR = 16000
N = 7  # clips in the `table` fixture (conftest.py)


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
        with pytest.raises(AudioError, match=rf"1 of {N + 1} clips cannot be used .*\n  .*broken.wav: "):
            extract_embeddings(bad, config)
        # The bad clip is skipped on its own: every good clip was embedded and cached.
        assert cache_status(table, config)["cached"] == N
        _, computed = _extract_counting(table, config)
        assert computed == 0


class TestBadClips:
    @pytest.fixture
    def bad_table(self, table, tmp_path):
        silent, nan, dc = (tmp_path / "clips" / f"{name}.wav" for name in ("silent", "nan", "dc"))
        sf.write(silent, np.zeros(8000, np.float32), SR)
        sf.write(nan, np.full(8000, np.nan, np.float32), SR, subtype="FLOAT")
        sf.write(dc, np.full(8000, 0.25, np.float32), SR)
        short = tmp_path / "clips" / "short.wav"
        sf.write(short, 0.3 * np.ones(16, np.float32), SR)  # 1 ms
        rows = [*table["path"][:2], str(silent), *table["path"][2:5], str(nan), str(dc), *table["path"][5:], str(short)]
        return pd.DataFrame({"path": rows})

    def test_all_bad_clips_reported_at_once_good_ones_kept(self, bad_table, table, config):
        with pytest.raises(AudioError) as caught:
            extract_embeddings(bad_table, config)
        message = str(caught.value)
        assert message.startswith(f"4 of {N + 4} clips cannot be used")
        for name, reason in (("silent", "is silent"), ("nan", "NaN or infinite"), ("dc", "constant signal"),
                             ("short", "0.001 s long; at least MIN_SECONDS=0.1 s")):
            assert f"{name}.wav" in message and reason in message
        emb, bad = extract_embeddings(bad_table, config, errors="skip")
        assert emb.shape == (N, 2560) and len(bad) == 4
        np.testing.assert_allclose(emb, extract_embeddings(table, config), rtol=1e-4, atol=1e-4)
        _, computed = _extract_counting(table, config)
        assert computed == 0

    def test_bad_clips_are_remembered_not_decoded_again(self, bad_table, config):
        extract_embeddings(bad_table, config, errors="skip")
        index = json.loads((cache_folder(config) / "index.json").read_text())
        assert len(index["bad"]) == 4
        calls = []
        extract_embeddings(bad_table, config, errors="skip", progress=lambda d, t, m: calls.append((d, t, m)))
        assert calls == [(N + 4, N + 4, f"{N + 4} of {N + 4} clips cached")]  # nothing decoded or embedded

    def test_corpus_drops_bad_clips_into_the_skipped_report(self, tmp_path, config, caplog):
        from factories import crema_folder

        from qser_core.data.corpus import index_corpus
        from qser_core.features.embeddings import extract_corpus

        root = crema_folder(tmp_path / "crema", actors=(1001, 1002))
        dc = root / "1003_DFA_ANG_XX.wav"
        sf.write(dc, np.full(8000, 0.25, np.float32), SR)
        corpus = index_corpus(root)
        assert str(dc) in corpus.table["path"].tolist()  # the header looks fine: indexing cannot tell
        kept, emb = extract_corpus(corpus, config)
        assert str(dc) not in kept.table["path"].tolist() and len(kept.table) == len(emb) == 12
        assert kept.report.skipped[-1][0] == str(dc) and "constant signal" in kept.report.skipped[-1][1]
        assert kept.report.n_clips == 12 and "12 usable clips of 13 audio files; 1 skipped" in caplog.text

    def test_corpus_of_one_emotion_is_refused(self, tmp_path, config):
        from factories import crema_folder

        from qser_core.data.corpus import index_corpus
        from qser_core.features.embeddings import extract_corpus

        root = crema_folder(tmp_path / "crema", actors=(1001, 1002), emotions=("NEU",))
        with pytest.raises(DataError, match=r"has usable clips of 1 emotion\(s\) \(NEU 2\); emotion recognition "
                                            "needs at least two"):
            extract_corpus(index_corpus(root), config)


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
        write_tone(table["path"][3], 2000.0, seed=99)
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


class TestCacheDamage:
    def test_content_changed_but_size_and_mtime_kept(self, table, config):
        first = extract_embeddings(table, config)
        path = table["path"][2]
        st = os.stat(path)
        write_tone(path, 3000.0, seed=5)  # same length, other content (as `cp -p` or `rsync -a` leave it)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
        second, computed = _extract_counting(table, config)
        assert computed == 1 and not np.allclose(first[2], second[2])
        np.testing.assert_allclose(second[2], extract_embeddings(table.iloc[[2]], config)[0], rtol=1e-4, atol=1e-4)

    def test_entry_out_of_range_is_recomputed(self, table, config):
        first = extract_embeddings(table, config)
        path = cache_folder(config) / "index.json"
        index = json.loads(path.read_text())
        ident = next(iter(index["entries"]))
        index["entries"][ident][1] = 10**6
        path.write_text(json.dumps(index))
        with pytest.warns(UserWarning, match="entries point past the end of chunk-"):
            again = extract_embeddings(table, config)
        np.testing.assert_allclose(first, again, rtol=1e-4, atol=1e-4)  # other batch mates

    def test_malformed_entry_and_chunk_without_checksum(self, table, config):
        first = extract_embeddings(table, config)
        path = cache_folder(config) / "index.json"
        index = json.loads(path.read_text())
        for meta in index["chunks"].values():
            del meta["sha256"]
        ident = next(iter(index["entries"]))
        index["entries"][ident] = "garbage"
        path.write_text(json.dumps(index))
        with pytest.warns(UserWarning) as caught:
            again = extract_embeddings(table, config)
        text = " ".join(str(w.message) for w in caught)
        assert "lacks the checksum or row count" in text and "malformed entry" in text
        np.testing.assert_allclose(first, again, rtol=1e-4, atol=1e-4)  # other batch mates
        _, computed = _extract_counting(table, config)
        assert computed == 0


class TestFastPath:
    """The batched path (folded batch norms, in-place activations, parts in parallel threads) changes speed only."""

    def test_matches_the_plain_per_clip_forward(self, table, config):
        from qser_core.data.audio import audio_kwargs, load_audio
        from qser_core.features.embeddings import _backbone

        config = config.with_overrides(["embedding.batch_size=4"])  # two parts of two clips per batch
        extracted = extract_embeddings(table, config)
        backbone = _backbone(config)
        with torch.enable_grad():  # the training path: no folding, nothing in place, one clip at a time
            for row in range(N):
                clip = torch.from_numpy(load_audio(table["path"][row], **audio_kwargs(config.audio)))[None]
                plain = backbone(clip).detach().numpy()[0]
                np.testing.assert_allclose(extracted[row], plain, rtol=1e-4, atol=1e-4)

    def test_torch_thread_count_is_left_as_it_was(self, table, config):
        import threading

        before = torch.get_num_threads()
        extract_embeddings(table, config)
        seen = []
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert torch.get_num_threads() == before and seen == [before]


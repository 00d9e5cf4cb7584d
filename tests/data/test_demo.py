"""qser_core.data.demo: the synthetic eSpeak NG corpus in CREMA-D's format."""

from __future__ import annotations

import csv
import re
import threading
import time
import wave

import numpy as np
import pytest

from qser_core.data.audio import read_audio, trim_silence
from qser_core.data.demo import (
    EMOTION_PROSODY,
    SENTENCES,
    demo_corpus_dir,
    generate_demo_corpus,
    is_demo_corpus,
)
from qser_core.errors import BackendError, DataError

NAME = re.compile(r"^(?P<actor>10\d\d)_(?P<sentence>[A-Z]{3})_(?P<emotion>ANG|DIS|FEA|HAP|NEU|SAD)_(?P<intensity>LO|MD|HI|XX)\.wav$")
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


@pytest.fixture(scope="module")
def two_speakers(tmp_path_factory):
    return generate_demo_corpus(tmp_path_factory.mktemp("demo2"), n_speakers=2, seed=0)


@pytest.fixture(scope="session")
def default_corpus():
    """The default corpus through the public cache (generated once per test session)."""
    started = time.perf_counter()
    folder = demo_corpus_dir()
    return folder, time.perf_counter() - started


def parse(folder):
    return [NAME.match(p.name).groupdict() | {"path": p} for p in sorted(folder.glob("*.wav"))]


class TestConstants:
    def test_constants_match_crema_d_and_data(self):
        from qser_core.data.corpus import EMOTIONS as DATA_EMOTIONS

        assert len(SENTENCES) == 12 and SENTENCES["IEO"] == "It's eleven o'clock"
        assert tuple(EMOTION_PROSODY) == DATA_EMOTIONS == EMOTIONS


class TestCorpusLayout:
    def test_one_clip_per_speaker_sentence_emotion(self, two_speakers):
        clips = parse(two_speakers)
        assert len(clips) == 2 * 12 * 6
        keys = {(c["actor"], c["sentence"], c["emotion"]) for c in clips}
        assert keys == {(a, s, e) for a in ("1001", "1002") for s in SENTENCES for e in EMOTIONS}

    def test_intensity_varies_only_on_ieo(self, two_speakers):
        for c in parse(two_speakers):
            if c["sentence"] == "IEO" and c["emotion"] != "NEU":
                assert c["intensity"] in ("LO", "MD", "HI")
            else:
                assert c["intensity"] == "XX"

    def test_wav_format_is_16k_mono_16bit(self, two_speakers):
        for c in parse(two_speakers)[:10]:
            with wave.open(str(c["path"])) as w:
                assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
                assert 1.0 < w.getnframes() / 16000 < 6.0

    def test_demographics_and_marker(self, two_speakers):
        with open(two_speakers / "VideoDemographics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == ["ActorID", "Age", "Sex", "Race", "Ethnicity"]
        assert [(r["ActorID"], r["Sex"]) for r in rows] == [("1001", "Male"), ("1002", "Female")]
        assert all(20 <= int(r["Age"]) <= 74 for r in rows)
        marker = (two_speakers / "SYNTHETIC.txt").read_text()
        assert "SYNTHETIC speech" in marker and "eSpeak NG" in marker and "clips: 144" in marker
        assert is_demo_corpus(two_speakers)

    def test_not_a_demo_corpus(self, tmp_path):
        (tmp_path / "1001_DFA_ANG_XX.wav").write_bytes(b"")
        assert not is_demo_corpus(tmp_path) and not is_demo_corpus(tmp_path / "missing")

    def test_clips_load_through_the_audio_pipeline(self, two_speakers):
        from qser_core.data.audio import load_batch

        batch = load_batch(sorted(two_speakers.glob("*.wav"))[:12], sr=16000, duration=3.0, top_db=40.0)
        assert batch.shape == (12, 48000) and np.isfinite(batch).all()

    def test_indexes_with_the_crema_d_parser(self, two_speakers):
        from qser_core.data.corpus import index_corpus

        corpus = index_corpus(two_speakers, dataset="demo")
        assert len(corpus.table) == 144 and set(corpus.table["emotion"]) == set(EMOTIONS)
        assert set(corpus.table["sex"]) == {"Male", "Female"}


class TestDeterminism:
    def test_same_seed_same_bytes(self, tmp_path, two_speakers):
        again = generate_demo_corpus(tmp_path / "again", n_speakers=1, seed=0)
        names = sorted(p.name for p in again.iterdir() if p.suffix == ".wav")
        assert len(names) == 72
        # Speaker 1001 is byte-identical whether made alone or with a second speaker.
        for name in names:
            assert (again / name).read_bytes() == (two_speakers / name).read_bytes(), name

    def test_another_seed_differs(self, tmp_path, two_speakers):
        other = generate_demo_corpus(tmp_path / "seed1", n_speakers=1, seed=1)
        name = "1001_TSI_HAP_XX.wav"
        assert (other / name).read_bytes() != (two_speakers / name).read_bytes()

    @pytest.mark.parametrize("bad", [0, 92, 2.0, True])
    def test_rejects_bad_speaker_counts(self, tmp_path, bad):
        with pytest.raises(DataError, match=r"n_speakers must be an integer from 1 to 91"):
            generate_demo_corpus(tmp_path, n_speakers=bad)

    def test_missing_espeak_library(self, tmp_path, monkeypatch):
        import espeakng_loader

        monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(tmp_path / "libespeak-ng.so"))
        with pytest.raises(BackendError, match=r"pip install espeakng-loader"):
            generate_demo_corpus(tmp_path / "out", n_speakers=1)


def _measures(path):
    """Mean F0 (Hz) over voiced frames, RMS (dB) and speech duration (s) of one clip."""
    import librosa

    y, sr = read_audio(path, sr=16000)
    y, _ = trim_silence(y, top_db=30.0)
    f0 = librosa.yin(y, fmin=60, fmax=600, sr=sr, frame_length=1024)
    rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=256)[0][: len(f0)]  # yin's framing
    voiced = rms > 0.25 * rms.max()
    return np.exp(np.mean(np.log(f0[voiced]))), 20 * np.log10(np.sqrt(np.mean(y**2))), len(y) / sr


@pytest.mark.slow
class TestDefaultCorpus:
    def test_default_size_and_cache_reuse(self, default_corpus, qser_home):
        folder, first_seconds = default_corpus
        assert folder == qser_home / "demo" / "v1-seed0"
        assert len(list(folder.glob("*.wav"))) == 864 and is_demo_corpus(folder)
        assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name]  # temp folder renamed away
        marker_time = (folder / "SYNTHETIC.txt").stat().st_mtime_ns
        assert demo_corpus_dir() == folder
        assert (folder / "SYNTHETIC.txt").stat().st_mtime_ns == marker_time  # not regenerated
        print(f"default demo corpus generated in {first_seconds:.1f} s")

    def test_concurrent_callers_share_one_corpus(self, default_corpus):
        folder, _ = default_corpus
        results = []
        threads = [threading.Thread(target=lambda: results.append(demo_corpus_dir())) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [folder] * 4

    def test_emotions_differ_in_the_expected_direction(self, default_corpus):
        folder, _ = default_corpus
        clips = [c for c in parse(folder) if int(c["actor"]) <= 1006]  # 6 speakers, 432 clips
        values = {e: [] for e in EMOTIONS}
        for c in clips:
            values[c["emotion"]].append(_measures(c["path"]))
        f0, db, seconds = ({e: np.mean([v[i] for v in values[e]]) for e in EMOTIONS} for i in range(3))
        # Pitch: fear, happiness and anger above neutral; sadness and disgust below.
        assert min(f0["FEA"], f0["HAP"], f0["ANG"]) > f0["NEU"] > max(f0["SAD"], f0["DIS"])
        # Loudness: anger loudest, sadness softest.
        assert db["ANG"] > db["HAP"] > db["NEU"] > db["SAD"] and db["ANG"] - db["SAD"] > 4.0
        # Rate: sadness and disgust slower (longer) than neutral, fear faster.
        assert min(seconds["SAD"], seconds["DIS"]) > seconds["NEU"] > seconds["FEA"]

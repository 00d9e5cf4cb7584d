"""qser_core.data.audio: reading, resampling, mono mixing, trimming, fixed length, batches."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qser_core.data.audio import audio_kwargs, fix_length, load_audio, load_batch, read_audio, trim_silence
from qser_core.config import AudioConfig

REPO = Path(__file__).resolve().parents[2]


def tone(freq: float, seconds: float, sr: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


class TestRead:
    @pytest.mark.parametrize("native_sr", [8000, 22050, 48000])
    def test_resamples_to_the_target_rate(self, tmp_path, native_sr):
        path = tmp_path / f"tone_{native_sr}.wav"
        sf.write(path, tone(440.0, 1.0, native_sr), native_sr)
        y, sr = read_audio(path, sr=16000)
        assert sr == 16000 and y.dtype == np.float32
        assert abs(len(y) - 16000) <= 2
        assert dominant_hz(y, sr) == pytest.approx(440.0, abs=2.0)
        assert np.abs(y).max() == pytest.approx(0.3, rel=0.05)

    def test_keeps_the_native_rate_without_sr(self, tmp_path):
        path = tmp_path / "tone.wav"
        sf.write(path, tone(300.0, 0.5, 8000), 8000)
        y, sr = read_audio(path)
        assert sr == 8000 and y.shape == (4000,)

    def test_stereo_is_averaged_to_mono(self, tmp_path):
        left, right = tone(440.0, 0.5, 16000, 0.4), tone(1000.0, 0.5, 16000, 0.2)
        path = tmp_path / "stereo.wav"
        sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
        y, _ = read_audio(path)
        np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)

    @pytest.mark.parametrize("fmt,suffix", [("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
    def test_reads_compressed_formats(self, tmp_path, fmt, suffix):
        path = tmp_path / f"tone{suffix}"
        sf.write(path, tone(440.0, 1.0, 16000), 16000, format=fmt)
        y, sr = read_audio(path, sr=16000)
        assert abs(len(y) - 16000) < 2000  # mp3 adds encoder delay/padding
        assert dominant_hz(y, sr) == pytest.approx(440.0, abs=3.0)

    def test_file_like_bytes_and_path_agree(self, tmp_path):
        path = tmp_path / "clip.wav"
        sf.write(path, tone(440.0, 0.8, 22050), 22050)
        data = path.read_bytes()
        from_path = load_audio(path)
        buffer = io.BytesIO(data)
        buffer.seek(10)
        np.testing.assert_array_equal(load_audio(buffer), from_path)
        assert buffer.tell() == 10  # the caller's position is restored
        np.testing.assert_array_equal(load_audio(data), from_path)
        with open(path, "rb") as fh:
            np.testing.assert_array_equal(load_audio(fh), from_path)

    def test_reads_emodb_flac(self, emodb_audio):
        path = sorted(emodb_audio.glob("*.flac"))[0]
        y, sr = read_audio(path, sr=16000)
        info = sf.info(path)
        assert sr == 16000
        assert abs(len(y) - info.frames * 16000 / info.samplerate) <= 2
        assert np.isfinite(y).all() and np.abs(y).max() > 0.01


class TestTrim:
    @pytest.mark.parametrize("top_db", [20.0, 40.0, 60.0])
    @pytest.mark.parametrize("n", [3000, 48000, 48001, 70000])
    def test_matches_librosa_effects_trim(self, n, top_db):
        librosa = pytest.importorskip("librosa")
        rng = np.random.default_rng(n)
        y = (rng.standard_normal(n) * 1e-3).astype(np.float32)
        y[n // 4 : n // 4 + n // 3] += (rng.standard_normal(n // 3) * 0.3).astype(np.float32)
        ours, (start, end) = trim_silence(y, top_db=top_db)
        theirs, index = librosa.effects.trim(y, top_db=top_db)
        assert (start, end) == tuple(int(i) for i in index)
        np.testing.assert_array_equal(ours, theirs)

    def test_matches_librosa_on_real_speech(self, emodb_audio):
        librosa = pytest.importorskip("librosa")
        for path in sorted(emodb_audio.glob("*.flac"))[:5]:
            y, _ = read_audio(path)
            for top_db in (30.0, 40.0):
                assert trim_silence(y, top_db=top_db)[1] == tuple(int(i) for i in librosa.effects.trim(y, top_db=top_db)[1])

    def test_cuts_leading_and_trailing_silence(self):
        sr = 16000
        y = np.concatenate([np.zeros(sr), tone(440.0, 1.0, sr), np.zeros(sr)]).astype(np.float32)
        trimmed, (start, end) = trim_silence(y, top_db=40.0)
        assert 0.85 * sr < start < sr and 2 * sr < end < 2.15 * sr  # within one frame of the tone


class TestFixLength:
    def test_pads_short_clips_centred(self):
        y = tone(440.0, 1.0, 16000)
        out = fix_length(y, sr=16000, duration=3.0, top_db=None)
        assert out.shape == (48000,) and out.dtype == np.float32
        np.testing.assert_array_equal(out[16000:32000], y)
        assert not out[:16000].any() and not out[32000:].any()

    def test_crops_long_clips_centred(self):
        y = np.arange(80000, dtype=np.float32) / 80000
        out = fix_length(y, sr=16000, duration=3.0, top_db=None)
        np.testing.assert_array_equal(out, y[16000:64000])

    def test_trims_before_fixing_length(self):
        sr = 16000
        y = np.concatenate([np.zeros(2 * sr), tone(440.0, 1.0, sr), np.zeros(2 * sr)]).astype(np.float32)
        out = fix_length(y, sr=sr, duration=1.5, top_db=40.0)
        loud = np.flatnonzero(np.abs(out) > 0.01)
        # The tone (about 1 s after trimming) sits in the middle of the 1.5 s output.
        assert loud[0] > 0.1 * sr and loud[-1] < 1.4 * sr

    @pytest.mark.parametrize("sr,duration", [(16000, 3.0), (22050, 2.5), (8000, 0.7)])
    def test_length_is_round_sr_times_duration(self, tmp_path, sr, duration):
        path = tmp_path / "clip.wav"
        sf.write(path, tone(220.0, 1.3, 44100), 44100)
        assert load_audio(path, sr=sr, duration=duration).shape == (int(round(sr * duration)),)


class TestLoadAudio:
    def test_emodb_clip(self, emodb_audio):
        y = load_audio(sorted(emodb_audio.glob("*.flac"))[0])
        assert y.shape == (48000,) and y.dtype == np.float32 and np.isfinite(y).all()

    def test_fresh_interpreter_is_fast_and_never_imports_numba(self, tmp_path):
        path = tmp_path / "clip.wav"
        sf.write(path, tone(440.0, 2.0, 48000), 48000)
        code = (
            "import sys, time; t = time.perf_counter(); from qser_core.data.audio import load_audio; "
            f"y = load_audio({str(path)!r}); print(time.perf_counter() - t, 'numba' in sys.modules, "
            "'librosa' in sys.modules, y.shape)"
        )
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
        _, numba, librosa, shape = out.stdout.split(maxsplit=3)
        assert numba == "False" and librosa == "False"  # no JIT compilation on the load path
        assert shape.strip() == "(48000,)"
        # (its speed, ~0.1 s measured, belongs in benchmarks/: no timing assertions in tests)


class TestLoadBatch:
    def _clips(self, tmp_path, n=5):
        paths = []
        for i in range(n):
            path = tmp_path / f"clip{i}.wav"
            sr = (8000, 16000, 44100)[i % 3]
            sf.write(path, tone(200.0 + 50 * i, 0.5 + 0.3 * i, sr), sr)
            paths.append(path)
        return paths

    @pytest.mark.parametrize("n_jobs", [1, 2])
    def test_rows_match_load_audio_in_order(self, tmp_path, n_jobs):
        paths = self._clips(tmp_path)
        calls = []
        batch = load_batch(paths, sr=16000, duration=1.0, top_db=40.0, max_seconds=60.0, n_jobs=n_jobs,
                           progress=lambda done, total, msg: calls.append((done, total)))
        assert batch.shape == (5, 16000) and batch.dtype == np.float32
        for row, path in zip(batch, paths):
            np.testing.assert_array_equal(row, load_audio(path, sr=16000, duration=1.0))
        assert calls[0] == (0, 5) and calls[-1] == (5, 5)

    def test_skip_returns_good_rows_and_the_bad_list(self, tmp_path):
        paths = self._clips(tmp_path, 3)
        broken = tmp_path / "broken.wav"
        broken.write_bytes(b"not audio at all")
        batch, bad = load_batch([paths[0], broken, paths[2]], sr=16000, duration=1.0, errors="skip")
        assert batch.shape == (2, 16000)
        np.testing.assert_array_equal(batch[1], load_audio(paths[2], sr=16000, duration=1.0))
        assert [p for p, _ in bad] == [str(broken)] and "broken.wav" in bad[0][1]

    def test_audio_kwargs_drive_load_audio(self, tmp_path):
        cfg = AudioConfig(sr=8000, duration=1.0, top_db=30.0, max_seconds=10.0)
        kwargs = audio_kwargs(cfg)
        assert kwargs == {"sr": 8000, "duration": 1.0, "top_db": 30.0, "max_seconds": 10.0}
        assert load_audio(self._clips(tmp_path, 1)[0], **kwargs).shape == (8000,)

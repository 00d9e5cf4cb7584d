"""Bad audio input: every case raises AudioError naming the file (messages are part of the contract)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import soundfile as sf

from qser_core.data.audio import load_audio, load_batch, read_audio
from qser_core.errors import AudioError, QserError


def speech_like(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.fixture
def good_wav(tmp_path):
    path = tmp_path / "good.wav"
    sf.write(path, speech_like(1.0, 16000), 16000)
    return path


class TestMissingAndEmpty:
    def test_missing_file(self, tmp_path):
        with pytest.raises(AudioError, match=r"nowhere\.wav does not exist"):
            load_audio(tmp_path / "nowhere.wav")

    def test_folder_instead_of_file(self, tmp_path):
        with pytest.raises(AudioError, match=rf"{re.escape(tmp_path.name)} is not a file"):
            load_audio(tmp_path)

    def test_zero_byte_file(self, tmp_path):
        path = tmp_path / "empty.wav"
        path.write_bytes(b"")
        with pytest.raises(AudioError, match=r"empty\.wav is empty \(0 bytes\)"):
            load_audio(path)

    def test_wav_with_zero_frames(self, tmp_path):
        path = tmp_path / "noframes.wav"
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
        with pytest.raises(AudioError, match=r"noframes\.wav holds no audio frames"):
            load_audio(path)

    def test_empty_buffer_uses_its_name(self):
        buffer = io.BytesIO(b"")
        buffer.name = "recording.wav"
        with pytest.raises(AudioError, match=r"recording\.wav is empty"):
            load_audio(buffer)

    def test_nameless_buffer(self):
        with pytest.raises(AudioError, match=r"<in-memory audio> is empty"):
            load_audio(b"")


class TestCorrupt:
    def test_text_file_named_wav(self, tmp_path):
        path = tmp_path / "notes.wav"
        path.write_text("these are meeting notes, not audio\n" * 20)
        with pytest.raises(AudioError, match=r"notes\.wav cannot be decoded.*not audio"):
            load_audio(path)

    def test_random_bytes_of_unknown_type(self, tmp_path):
        # Not a libsndfile format: the librosa/audioread fallback is tried, then refused.
        path = tmp_path / "blob.bin"
        path.write_bytes(np.random.default_rng(0).bytes(4000))
        with pytest.raises(AudioError, match=r"blob\.bin is not readable audio"):
            load_audio(path)

    def test_truncated_header(self, tmp_path, good_wav):
        path = tmp_path / "cut_header.wav"
        path.write_bytes(good_wav.read_bytes()[:30])
        with pytest.raises(AudioError, match=r"cut_header\.wav cannot be decoded"):
            load_audio(path)

    def test_truncated_wav_data(self, tmp_path, good_wav):
        data = good_wav.read_bytes()
        path = tmp_path / "cut_data.wav"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(AudioError, match=r"cut_data\.wav is truncated"):
            load_audio(path)

    def test_truncated_flac(self, tmp_path):
        full = tmp_path / "full.flac"
        sf.write(full, speech_like(2.0, 16000), 16000)
        path = tmp_path / "cut.flac"
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        with pytest.raises(AudioError, match=r"cut\.flac is corrupt or truncated"):
            load_audio(path)

    def test_corrupt_buffer_with_a_name(self):
        buffer = io.BytesIO(b"RIFF" + b"\x00" * 40)
        buffer.name = "upload.wav"
        with pytest.raises(AudioError, match=r"upload\.wav cannot be decoded"):
            load_audio(buffer)


class TestSilentAndInvalidSamples:
    def test_all_zeros(self, tmp_path):
        path = tmp_path / "zeros.wav"
        sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
        with pytest.raises(AudioError, match=r"zeros\.wav is silent"):
            load_audio(path)

    def test_peak_below_threshold(self, tmp_path):
        path = tmp_path / "whisper.wav"
        sf.write(path, 5e-5 * np.sign(np.sin(np.arange(16000))), 16000, subtype="FLOAT")
        with pytest.raises(AudioError, match=r"whisper\.wav is silent"):
            read_audio(path)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_nan_or_inf_samples(self, tmp_path, bad):
        y = speech_like(1.0, 16000)
        y[100:110] = bad
        path = tmp_path / "nan.wav"
        sf.write(path, y, 16000, subtype="FLOAT")
        with pytest.raises(AudioError, match=r"nan\.wav contains 10 NaN or infinite samples"):
            load_audio(path)


class TestTooLong:
    def test_longer_than_max_seconds(self, tmp_path):
        path = tmp_path / "lecture.wav"
        sf.write(path, speech_like(61.0, 8000), 8000)
        with pytest.raises(AudioError, match=r"lecture\.wav is 61\.0 s long; at most max_seconds=60 s"):
            load_audio(path)

    def test_checked_from_the_header_before_decoding(self, tmp_path, monkeypatch):
        path = tmp_path / "huge.flac"
        sf.write(path, speech_like(5.0, 16000), 16000)

        def no_decoding(*args, **kwargs):
            raise AssertionError("the file was decoded before its length was checked")

        monkeypatch.setattr(sf, "read", no_decoding)
        with pytest.raises(AudioError, match=r"huge\.flac is 5\.0 s long; at most max_seconds=2 s"):
            load_audio(path, max_seconds=2.0)


class TestBatch:
    def test_names_the_first_bad_file_and_the_count(self, tmp_path, good_wav):
        silent = tmp_path / "silent.wav"
        sf.write(silent, np.zeros(8000, dtype=np.float32), 16000)
        missing = tmp_path / "gone.wav"
        with pytest.raises(AudioError, match=r"2 of 4 audio files could not be loaded; first: audio file .*silent\.wav is silent"):
            load_batch([good_wav, silent, good_wav, missing], sr=16000, duration=1.0, n_jobs=2)

    def test_rejects_unknown_error_mode(self, good_wav):
        with pytest.raises(AudioError, match=r"errors must be 'raise' or 'skip'; got 'ignore'"):
            load_batch([good_wav], errors="ignore")

    def test_errors_are_qser_and_value_errors(self, tmp_path):
        with pytest.raises(QserError):
            load_audio(tmp_path / "x.wav")
        with pytest.raises(ValueError):
            load_audio(tmp_path / "x.wav")

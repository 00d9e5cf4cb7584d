"""Bad audio input: every case raises AudioError naming the file (messages are part of the contract)."""

from __future__ import annotations

import io
import re
import subprocess

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


class TestTooShortAndConstant:
    def test_one_millisecond_clip(self, tmp_path):
        path = tmp_path / "blip.wav"
        sf.write(path, speech_like(0.001, 16000), 16000)
        with pytest.raises(AudioError, match=r"blip\.wav is 0\.001 s long; at least MIN_SECONDS=0\.1 s is needed"):
            load_audio(path)

    def test_constant_dc_clip(self, tmp_path):
        path = tmp_path / "dc.wav"
        sf.write(path, np.full(16000, 0.2, dtype=np.float32), 16000)
        with pytest.raises(AudioError, match=r"dc\.wav is a constant signal \(DC offset 0\.2, no variation\)"):
            load_audio(path)

    def test_indexing_skips_what_decoding_refuses_by_length(self, tmp_path):
        from factories import crema_folder

        from qser_core.data.corpus import index_corpus

        root = crema_folder(tmp_path / "crema", actors=(1001, 1002))
        sf.write(root / "1003_DFA_ANG_XX.wav", speech_like(0.001, 16000), 16000)
        sf.write(root / "1003_DFA_SAD_XX.wav", speech_like(3.0, 16000), 16000)
        report = index_corpus(root, max_seconds=2.0).report
        reasons = dict(report.skipped)
        assert "0.001 s long; at least MIN_SECONDS" in reasons[str(root / "1003_DFA_ANG_XX.wav")]
        assert "3.0 s long; at most max_seconds=2 s" in reasons[str(root / "1003_DFA_SAD_XX.wav")]
        with pytest.raises(AudioError, match="0.001 s long"):
            load_audio(root / "1003_DFA_ANG_XX.wav")


class TestUnclearCasesNamed:
    def test_stereo_channels_that_cancel_are_not_called_silent(self, tmp_path):
        path = tmp_path / "cancel.wav"
        y = speech_like(1.0, 16000)
        sf.write(path, np.stack([y, -y], axis=1), 16000)
        with pytest.raises(AudioError, match=r"cancel.wav has sound in its 2 channels .* cancel when mixed to mono") \
                as info:
            read_audio(path)
        assert "silent" not in str(info.value)

    def test_symlink_loop_is_not_called_missing(self, tmp_path):
        loop = tmp_path / "loop.wav"
        loop.symlink_to(loop)
        with pytest.raises(AudioError, match=r"loop.wav is a symbolic link loop") as info:
            read_audio(loop)
        assert "does not exist" not in str(info.value)

    def test_clip_name_that_is_not_utf8_is_read(self, tmp_path, good_wav):
        import os

        odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav")  # Latin-1 bytes: a surrogate-escaped str
        os.replace(good_wav, odd)
        y, sr = read_audio(odd, sr=16000)
        assert sr == 16000 and len(y) == 16000

    def test_other_audio_formats_beside_wavs_are_listed(self, tmp_path):
        from factories import crema_folder, write_wav

        from qser_core.data.corpus import index_corpus

        root = crema_folder(tmp_path / "corpus")
        for name, fmt in (("1004_DFA_ANG_XX.flac", "FLAC"), ("1004_DFA_SAD_XX.ogg", "OGG")):
            write_wav(root / name, fmt=fmt)
        (root / "1004_DFA_HAP_XX.mp3").write_bytes(b"ID3")
        report = index_corpus(root, dataset="crema-d").report
        reasons = dict(report.skipped)
        assert report.n_files == 18 + 3 and report.n_clips == 18
        for name in ("1004_DFA_ANG_XX.flac", "1004_DFA_SAD_XX.ogg", "1004_DFA_HAP_XX.mp3"):
            assert "audio is not read for this corpus (it takes .wav)" in reasons[str(root / name)]
        assert "skipped" in report.summary() and "ffmpeg" in report.summary()


def _qser(*args: str, home) -> subprocess.CompletedProcess:
    import os
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, "QSER_HOME": str(home),
           "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, "-m", "qser_core.cli", *args], env=env, cwd=repo, capture_output=True,
                          text=True, timeout=900)


class TestCommandLineInput:
    def test_out_is_an_existing_file(self, tmp_path):
        from qser_core.cli import main

        target = tmp_path / "model.txt"
        target.write_text("not a folder")
        for out in (target, target / "sub"):  # refused at once: main returns before any corpus is read
            assert main(["train", "--no-track", "--out", str(out)]) == 2
        assert target.read_text() == "not a folder"

    def test_cli_messages_for_bad_paths_config_and_seeds(self, tmp_path):
        target = tmp_path / "file.bin"
        target.write_bytes(b"x")
        bad_config = tmp_path / "latin1.toml"
        bad_config.write_bytes('[data]\ndataset = "d\xe9mo"\n'.encode("latin-1"))
        cases = [
            (["train", "--no-track", "--out", str(target / "sub")], "lies below .*file.bin, which is an existing file"),
            (["data", "download", "crema-d", "--out", str(target)], "file.bin is an existing file, not a folder"),
            (["config", "show", "--config", str(bad_config)], "latin1.toml is not UTF-8 text"),
            (["evaluate", "--no-track", "--seeds", "0"], r"--seeds must be at least 1 \(it runs seeds 0..N-1\); got 0"),
        ]
        for args, message in cases:
            result = _qser(*args, home=tmp_path / "home")
            assert result.returncode == 2, (args, result.stderr)
            assert re.search(message, result.stderr) and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "home" / "mlflow.db").exists()  # refused before any work or run


class TestDatasetChoice:
    def _config(self, argv):
        from qser_core.cli import build_parser
        from qser_core.cli.common import config_from, pipeline_flags

        args = build_parser().parse_args(argv)
        return config_from(args, **pipeline_flags(args))

    def test_data_dir_keeps_the_dataset_of_set_or_config(self, tmp_path, emodb_audio):
        assert self._config(["extract", "--data-dir", str(emodb_audio), "--set", "data.dataset=emodb"]
                            ).data.dataset == "emodb"
        config_file = tmp_path / "emodb.toml"
        config_file.write_text(f'[data]\ndataset = "emodb"\ndata_dir = "{tmp_path}"\n')
        assert self._config(["extract", "--config", str(config_file), "--data-dir", str(emodb_audio)]
                            ).data.dataset == "emodb"
        assert self._config(["extract", "--data-dir", str(tmp_path)]).data.dataset == "crema-d"

    def test_synthetic_marker_labels_a_demo_folder_used_as_crema_d(self, tmp_path, qser_home):
        from qser_core.config import QserConfig
        from qser_core.data.demo import is_synthetic
        from qser_core.data.demo import demo_corpus_dir

        demo = demo_corpus_dir()
        assert self._config(["extract", "--data-dir", str(demo)]).data.dataset == "demo"
        as_crema = QserConfig().with_overrides(["data.dataset=crema-d", f"data.data_dir={demo}"])
        assert is_synthetic(as_crema.data)
        assert not is_synthetic(as_crema.replace("data", data_dir=str(tmp_path)).data)


class TestSkippedReport:
    @pytest.mark.slow
    def test_evaluate_prints_and_records_what_was_skipped(self, tmp_path, monkeypatch):
        import json

        from factories import crema_folder

        root = crema_folder(tmp_path / "crema", actors=range(1001, 1007))
        (root / "1007_DFA_ANG_XX.wav").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\n")
        sf.write(root / "1007_DFA_SAD_XX.wav", np.full(8000, 0.3, np.float32), 16000)  # DC: found by decoding
        home = tmp_path / "home"
        result = _qser("evaluate", "--dataset", "crema-d", "--data-dir", str(root), "--backbone", "random-cnn",
                       "--head", "logreg", "--qubits", "2", "--folds", "2", "--seeds", "1", "--set", "audio.duration=0.5",
                       "--json", home=home)
        assert result.returncode == 0, result.stderr
        assert "37 usable clips of 38 audio files; 1 skipped" in result.stderr  # indexing: the LFS stub
        assert "36 usable clips of 38 audio files; 2 skipped" in result.stderr  # decoding adds the DC clip
        assert "Git LFS pointer stub" in result.stderr and "constant signal" in result.stderr
        assert "only 2 values behind this 95% interval" in result.stderr  # 2 folds x 1 seed
        summary = json.loads(result.stdout)
        assert 0 <= summary["ua_ci95"][0] <= summary["ua_ci95"][1] <= 1
        from qser_core.tracking import store
        from qser_core.tracking.reader import load_run

        monkeypatch.setenv("QSER_HOME", str(home))
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        store.reset_clients()
        run = load_run(summary["run_id"])
        assert run["tags"]["qser.n_skipped"] == "2" and run["tags"]["qser.n_clips"] == "36"
        assert "corpus.json" in run["artifacts"]

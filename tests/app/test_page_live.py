"""AppTest of the Live demo page: recorded and uploaded clips (newest wins), model choice, progress, bad audio."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, elements, open_page, texts, wait_for_text, wav_bytes


@pytest.fixture(scope="module")
def demo_clip(demo_config):
    from qser_core.data.audio import read_audio
    from qser_core.data.corpus import load_corpus

    table = load_corpus(demo_config.data).table
    y, sr = read_audio(table["path"].iloc[0], sr=16000)
    return wav_bytes(y, sr)


@pytest.fixture(scope="module")
def recorded_logreg(demo_config):
    """A logreg model trained and recorded the way `qser train` does (the run store of the test session)."""
    from qser_core.experiments.protocols.single import train_model
    from qser_core.progress import RunContext

    return train_model(demo_config.replace("head", kind="logreg"), context=RunContext(track=True))


@pytest.mark.slow
class TestLivePage:
    def test_predicts_a_recorded_clip(self, demo_config, demo_clip):
        at = open_page("pages/live.py", config=demo_config)
        assert_clean(at)
        assert "Record a clip" in texts(at)
        at.audio_input(key="live.record").set_value(("clip.wav", demo_clip, "audio/wav"))
        at.run()
        wait_for_text(at, "prediction took")  # the default models train in the background first
        assert_clean(at)
        shown = texts(at)
        assert "Analysing **your browser recording**" in shown
        assert "**logreg** head" in shown and "**quantum** head" in shown
        assert shown.count("prediction took") == 2
        assert len(elements(at, "plotly_chart")) == 4  # waveform, log-mel, two probability charts

    def test_first_prediction_shows_training_progress(self, demo_config, demo_clip):
        config = demo_config.replace("train", epochs=3)  # a config whose default models are not trained yet
        at = open_page("pages/live.py", config=config)
        at.audio_input(key="live.record").set_value(("clip.wav", demo_clip, "audio/wav"))
        at.run()
        assert_clean(at)
        assert "prediction took" not in texts(at)
        bars = elements(at, "progress")
        assert bars and "Training the small default models" in bars[0].proto.text
        wait_for_text(at, "prediction took")

    def test_newest_input_wins(self, demo_config, demo_clip, emodb_audio):
        path = sorted(emodb_audio.glob("*.flac"))[0]
        at = open_page("pages/live.py", config=demo_config)
        at.audio_input(key="live.record").set_value(("clip.wav", demo_clip, "audio/wav")).run()
        wait_for_text(at, "prediction took")
        at.file_uploader(key="live.upload").set_value((path.name, path.read_bytes(), "audio/flac")).run()
        assert_clean(at)
        shown = texts(at)
        assert f"Analysing **the uploaded file** ({path.name})" in shown
        assert "your browser recording is not used" in shown
        assert shown.count("prediction took") == 2

    def test_predicts_with_a_recorded_model(self, demo_config, demo_clip, recorded_logreg):
        at = open_page("pages/live.py", config=demo_config)
        at.selectbox(key="live.models").set_value("recorded").run()
        runs = at.multiselect(key="live.runs")
        assert recorded_logreg.run_id in runs.options or recorded_logreg.run_id in runs.value
        runs.set_value([recorded_logreg.run_id])
        at.audio_input(key="live.record").set_value(("clip.wav", demo_clip, "audio/wav")).run()
        assert_clean(at)
        shown = texts(at)
        assert shown.count("prediction took") == 1
        assert "**logreg** head (logreg · 4 qubits" in shown and recorded_logreg.run_id[:8] in shown

    def test_a_missing_model_folder_is_a_message(self, demo_config, demo_clip, tmp_path):
        at = open_page("pages/live.py", config=demo_config)
        at.selectbox(key="live.models").set_value("folder").run()
        at.text_input(key="live.folder").set_value(str(tmp_path / "nowhere"))
        at.audio_input(key="live.record").set_value(("clip.wav", demo_clip, "audio/wav")).run()
        assert not at.exception
        assert at.error and "nowhere" in at.error[0].value

    def test_bad_upload_names_the_file(self, demo_config):
        at = open_page("pages/live.py", config=demo_config)
        at.file_uploader(key="live.upload").set_value(("my_voice.wav", b"RIFF0000WAVEjunk", "audio/wav")).run()
        assert not at.exception
        assert at.error, "undecodable audio must give an error message"
        assert "my_voice.wav" in at.error[0].value and "<in-memory audio>" not in at.error[0].value


def _noise(seconds: float, sr: int = 16000) -> bytes:
    import numpy as np

    return wav_bytes((0.1 * np.random.default_rng(0).standard_normal(int(seconds * sr))).astype("float32"), sr)


class TestClipLength:
    """Issue 19: a 4.4 s upload was cut to 3 s without a word; the padding of a short clip was not marked."""

    def _open(self, demo_config, seconds):
        at = open_page("pages/live.py", config=demo_config)
        at.selectbox(key="live.models").set_value("folder").run()  # no model: the clip's view alone
        at.file_uploader(key="live.upload").set_value(("clip.wav", _noise(seconds), "audio/wav")).run()
        assert_clean(at)
        return at

    def test_a_long_upload_says_it_was_cut(self, demo_config):
        shown = texts(self._open(demo_config, 4.4))
        assert "The clip is 4.4 s long after trimming silence; the models take 3 s" in shown
        assert "only its middle 3 s is analysed (0.7 s cut at each end)" in shown

    def test_a_short_upload_shows_its_padding(self, demo_config):
        at = self._open(demo_config, 2.0)
        assert "silence was added on both sides" in texts(at)
        wave, mel = elements(at, "plotly_chart")[:2]
        assert '"padding"' in wave.proto.spec and '"padding"' in mel.proto.spec

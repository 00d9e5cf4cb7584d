"""AppTest of the Live demo page: a WAV injected through st.audio_input, and an uploaded FLAC."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, elements, open_page, texts, wav_bytes


@pytest.fixture(scope="module")
def demo_clip(demo_config):
    from qser_core.data.audio import read_audio
    from qser_core.data.corpus import load_corpus

    table = load_corpus(demo_config.data).table
    y, sr = read_audio(table["path"].iloc[0], sr=16000)
    return wav_bytes(y, sr)


@pytest.mark.slow
class TestLivePage:
    def test_predicts_a_recorded_clip(self, demo_config, demo_clip):
        at = open_page("pages/live.py", config=demo_config)
        assert_clean(at)
        assert "Record a clip" in texts(at)
        at.audio_input(key="live.record").set_value(("clip.wav", demo_clip, "audio/wav"))
        at.run()
        assert_clean(at)
        shown = texts(at)
        assert "**logreg** head" in shown and "**quantum** head" in shown
        assert shown.count("prediction took") == 2
        assert len(elements(at, "plotly_chart")) == 4  # waveform, log-mel, two probability charts

    def test_predicts_an_uploaded_flac(self, demo_config, emodb_audio):
        path = sorted(emodb_audio.glob("*.flac"))[0]
        at = open_page("pages/live.py", config=demo_config)
        at.file_uploader(key="live.upload").set_value((path.name, path.read_bytes(), "audio/flac"))
        at.run()
        assert_clean(at)
        assert texts(at).count("prediction took") == 2

    def test_not_audio_is_a_message(self, demo_config):
        at = open_page("pages/live.py", config=demo_config)
        at.audio_input(key="live.record").set_value(("clip.wav", b"RIFF0000WAVEjunk", "audio/wav"))
        at.run()
        assert not at.exception
        assert at.error, "undecodable audio must give an error message"
        assert "audio" in at.error[0].value.lower()

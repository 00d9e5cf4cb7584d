"""AppTest of the Data and spectrograms page."""

from __future__ import annotations

from app_harness import assert_clean, elements, open_page


class TestDataPage:
    def test_renders_counts_audio_and_spectrograms(self, demo_config):
        at = open_page("pages/data.py", config=demo_config)
        assert_clean(at)
        charts = elements(at, "plotly_chart")
        assert len(charts) >= 3 + 2 + 6  # counts, waveform + log-mel, six emotions
        assert len(elements(at, "audio")) >= 7
        assert any("Index report" in e.label for e in at.expander)
        import json

        traces = [json.loads(c.proto.spec)["data"][0] for c in charts]
        six = [t for t in traces if t.get("type") == "heatmap"][1:]  # after the one clip's log-mel
        assert len(six) == 6 and len({(t["zmin"], t["zmax"]) for t in six}) == 1  # one dB scale for all six

    def test_pick_another_actor_and_mel_settings(self, demo_config):
        at = open_page("pages/data.py", config=demo_config)
        actors = at.selectbox(key="data.actor").options
        at.selectbox(key="data.actor").set_value(actors[-1])
        at.slider(key="data.n_mels").set_value(32)
        at.run()
        assert_clean(at)
        assert at.selectbox(key="data.actor").value == actors[-1]

    def test_apply_mel_settings_to_config(self, demo_config):
        at = open_page("pages/data.py", config=demo_config)
        at.slider(key="data.n_mels").set_value(40)
        at.button(key="data.apply").click()
        at.run()
        assert_clean(at)
        assert at.session_state["config"].features.n_mels == 40

    def test_hop_length_choices_stop_at_n_fft(self, demo_config):
        at = open_page("pages/data.py", config=demo_config)
        at.select_slider(key="data.hop").set_value(320).run()
        at.select_slider(key="data.n_fft").set_value(256).run()
        assert_clean(at)
        hop = at.select_slider(key="data.hop")
        assert max(int(o) for o in hop.options) == 256 and hop.value == 256
        assert "at most n_fft" in hop.help
        n_mels = at.slider(key="data.n_mels")  # 128 bands would leave empty ones at n_fft 256 (16 kHz)
        assert n_mels.max == 88 and n_mels.value == 88 and "at most 88" in n_mels.help
        at.button(key="data.apply").click()
        at.run()
        assert (at.session_state["config"].features.n_fft, at.session_state["config"].features.hop_length) == (256, 256)
        assert at.session_state["config"].features.n_mels == 88

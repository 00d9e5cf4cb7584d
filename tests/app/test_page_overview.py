"""AppTest of app.py (router, sidebar) and the Overview page."""

from __future__ import annotations

import json

import pytest

from app_harness import assert_clean, open_page, texts


class TestRouter:
    def test_opens_on_the_demo_corpus(self):
        at = open_page()
        assert_clean(at)
        assert at.title[0].value == "QSER Lab"
        assert "SYNTHETIC" in texts(at)
        assert at.session_state["config"].data.dataset == "demo"

    def test_every_page_renders(self, demo_config):
        for page in ("pages/hardware.py", "pages/circuit.py", "pages/data.py"):
            at = open_page(page, config=demo_config)
            assert_clean(at)


class TestOverview:
    def test_shows_size_cache_and_runs(self):
        at = open_page()
        labels = {m.label: m.value for m in at.metric}
        assert int(labels["Clips"]) > 0
        assert int(labels["Speakers"]) >= 2
        assert "Recorded runs" in labels
        assert any(label.startswith("Cached embeddings") for label in labels)


class TestAllSettings:
    def test_every_field_has_a_widget_and_edits_the_config(self):
        at = open_page()
        config = at.session_state["config"]
        for section, fields in config.to_dict().items():
            for name in fields:
                if (section, name) in (("data", "dataset"), ("data", "data_dir")):
                    continue  # the sidebar's
                assert f"overview.{section}.{name}" in at.session_state, f"no widget for {section}.{name}"
        at.number_input(key="overview.train.patience").set_value(7).run()
        at.selectbox(key="overview.head.executor").set_value("default.qubit").run()
        at.text_input(key="overview.train.seeds").set_value("3, 4").run()
        config = at.session_state["config"]
        assert (config.train.patience, config.head.executor, config.train.seeds) == (7, "default.qubit", (3, 4))
        assert_clean(at)

    def test_out_of_range_value_shows_the_message_and_keeps_the_config(self):
        at = open_page()
        at.number_input(key="overview.audio.duration").set_value(100.0).run()
        assert at.session_state["config"].audio.duration == 3.0
        assert any("audio.duration must be between 0.5 and 30.0; got 100.0" in e.value for e in at.error)


class TestDataset:
    def test_bad_folder_is_a_readable_error(self, tmp_path):
        at = open_page()
        at.selectbox(key="sidebar.dataset").set_value("crema-d").run()  # enables the folder field
        at.text_input(key="sidebar.data_dir").set_value(str(tmp_path / "missing"))
        at.button(key="sidebar.use").click()
        at.run()
        assert not at.exception
        assert at.error, "a folder that does not exist must give an error message"
        assert "missing" in at.error[0].value
        # switch back to the demo corpus
        at.selectbox(key="sidebar.dataset").set_value("demo")
        at.button(key="sidebar.use").click()
        at.run()
        assert_clean(at)

    def test_choice_is_remembered_across_restarts(self, qser_home):
        path = qser_home / "dashboard.json"
        at = open_page()
        at.selectbox(key="sidebar.dataset").set_value("demo")
        at.button(key="sidebar.use").click()
        at.run()
        assert json.loads(path.read_text()) == {"dataset": "demo", "data_dir": ""}

    def test_unusable_remembered_choice_falls_back_to_demo(self, qser_home):
        path = qser_home / "dashboard.json"
        path.write_text(json.dumps({"dataset": "ravdess", "data_dir": ""}))
        try:
            at = open_page()
            assert_clean(at)
            assert at.session_state["config"].data.dataset == "demo"
        finally:
            path.unlink()


@pytest.mark.parametrize("name", ["pages/overview.py", "pages/hardware.py"])
def test_renders(name):
    at = open_page(name)
    assert_clean(at)

"""AppTest of app.py (router, sidebar) and the Overview page."""

from __future__ import annotations

import json
import time

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
        assert set(labels) >= {"Clips", "Speakers", "Emotions", "Skipped files", "Recorded runs"}  # "…" until ready
        deadline = time.monotonic() + 60
        while "…" in labels.values() and time.monotonic() < deadline:  # as the page's polling fragment fills them
            time.sleep(0.5)
            labels = {m.label: m.value for m in at.run().metric}
        assert_clean(at)
        assert int(labels["Clips"]) > 0
        assert int(labels["Speakers"]) >= 2
        assert "Recorded runs" in labels
        assert any(label.startswith("Cached embeddings") for label in labels)


class TestOverviewText:
    def test_says_what_exists_of_the_hardware_stage(self):
        shown = texts(open_page())
        assert "ideal simulation" in shown and "IBM Quantum hardware" in shown and "Hardware page" in shown
        assert "under device noise and (later)" not in shown


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

    def test_folder_without_audio_is_not_used_nor_remembered(self, qser_home, tmp_path):
        path = qser_home / "dashboard.json"
        path.unlink(missing_ok=True)
        (tmp_path / "notes.txt").write_text("no audio here")
        at = open_page()
        at.selectbox(key="sidebar.dataset").set_value("emodb").run()
        at.text_input(key="sidebar.data_dir").set_value(str(tmp_path))
        at.button(key="sidebar.use").click()
        at.run()
        assert not at.exception
        assert at.error and str(tmp_path) in at.error[0].value
        assert at.session_state["config"].data.dataset == "demo"
        assert not path.exists(), "an unusable folder must not be remembered"

    def test_reset_to_defaults_resets_the_dataset(self, qser_home, emodb_audio):
        path = qser_home / "dashboard.json"
        at = open_page("pages/settings.py")  # the sidebar is on every page; a setting to reset too
        at.selectbox(key="sidebar.dataset").set_value("emodb").run()
        at.text_input(key="sidebar.data_dir").set_value(str(emodb_audio))
        at.button(key="sidebar.use").click()
        at.run()
        assert_clean(at)
        assert at.session_state["config"].data.dataset == "emodb" and path.exists()
        at.number_input(key="settings.train.patience").set_value(7).run()
        at.button(key="sidebar.reset").click()
        at.run()
        assert_clean(at)
        config = at.session_state["config"]
        assert (config.data.dataset, config.data.data_dir, config.train.patience) == ("demo", "", 30)
        assert not path.exists(), "the remembered dataset must be forgotten too"

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


@pytest.mark.parametrize("name", ["pages/overview.py", "pages/hardware.py", "pages/settings.py"])
def test_renders(name):
    at = open_page(name)
    assert_clean(at)

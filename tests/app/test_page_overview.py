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

    def test_every_field_shows_the_comment_from_config_py_as_help(self):
        from qser_core.config_help import field_help

        at = open_page()
        widgets = {w.key: w for kind in ("number_input", "selectbox", "text_input", "checkbox")
                   for w in getattr(at, kind) if w.key and w.key.startswith("overview.")}
        for (section, name), text in field_help().items():
            if (section, name) not in (("data", "dataset"), ("data", "data_dir")):
                assert widgets[f"overview.{section}.{name}"].help == text, f"{section}.{name}"

    def test_bad_seeds_get_the_config_message(self):
        at = open_page()
        at.text_input(key="overview.train.seeds").set_value("0, one").run()
        assert not at.exception
        assert any("train.seeds must be a list of integers; got '0, one'" in e.value for e in at.error)
        assert at.session_state["config"].train.seeds == (0,)

    def test_says_what_exists_of_the_hardware_stage(self):
        shown = texts(open_page())
        assert "ideal simulation" in shown and "IBM Quantum hardware" in shown and "Hardware page" in shown
        assert "under device noise and (later)" not in shown

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
        at = open_page()
        at.selectbox(key="sidebar.dataset").set_value("emodb").run()
        at.text_input(key="sidebar.data_dir").set_value(str(emodb_audio))
        at.button(key="sidebar.use").click()
        at.run()
        assert_clean(at)
        assert at.session_state["config"].data.dataset == "emodb" and path.exists()
        at.number_input(key="overview.train.patience").set_value(7).run()
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


@pytest.mark.parametrize("name", ["pages/overview.py", "pages/hardware.py"])
def test_renders(name):
    at = open_page(name)
    assert_clean(at)

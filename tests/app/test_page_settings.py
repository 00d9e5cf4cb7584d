"""AppTest of the Settings page: every config field as a widget with its help, edits, messages."""

from __future__ import annotations

from app_harness import assert_clean, open_page


class TestSettings:
    def test_every_field_has_a_widget_and_edits_the_config(self):
        at = open_page("pages/settings.py")
        config = at.session_state["config"]
        for section, fields in config.to_dict().items():
            for name in fields:
                if (section, name) in (("data", "dataset"), ("data", "data_dir")):
                    continue  # the sidebar's
                assert f"settings.{section}.{name}" in at.session_state, f"no widget for {section}.{name}"
        at.number_input(key="settings.train.patience").set_value(7).run()
        at.selectbox(key="settings.head.executor").set_value("default.qubit").run()
        at.text_input(key="settings.train.seeds").set_value("3, 4").run()
        config = at.session_state["config"]
        assert (config.train.patience, config.head.executor, config.train.seeds) == (7, "default.qubit", (3, 4))
        assert_clean(at)

    def test_every_field_shows_the_comment_from_config_py_as_help(self):
        from qser_core.config_help import field_help

        at = open_page("pages/settings.py")
        widgets = {w.key: w for kind in ("number_input", "selectbox", "text_input", "checkbox")
                   for w in getattr(at, kind) if w.key and w.key.startswith("settings.")}
        for (section, name), text in field_help().items():
            if (section, name) not in (("data", "dataset"), ("data", "data_dir")):
                assert widgets[f"settings.{section}.{name}"].help == text, f"{section}.{name}"

    def test_bad_seeds_get_the_config_message(self):
        at = open_page("pages/settings.py")
        at.text_input(key="settings.train.seeds").set_value("0, one").run()
        assert not at.exception
        assert any("train.seeds must be a list of integers; got '0, one'" in e.value for e in at.error)
        assert at.session_state["config"].train.seeds == (0,)

    def test_out_of_range_value_shows_the_message_and_keeps_the_config(self):
        at = open_page("pages/settings.py")
        at.number_input(key="settings.audio.duration").set_value(100.0).run()
        assert at.session_state["config"].audio.duration == 3.0
        assert any("audio.duration must be between 0.5 and 30.0; got 100.0" in e.value for e in at.error)

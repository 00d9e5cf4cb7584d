"""Help text of every config field, read from the comments in qser_core/config.py."""

from __future__ import annotations

from qser_core.config import QserConfig
from qser_core.config_help import field_help


class TestFieldHelp:
    def test_every_field_has_its_comment(self):
        fields = {(section, name) for section, values in QserConfig().to_dict().items() for name in values}
        found = field_help()
        assert set(found) == fields
        assert not [key for key, text in found.items() if not text], "a config field lacks its one-line comment"

    def test_help_is_the_comment_with_its_unit(self):
        assert field_help()["features", "hop_length"] == "hop between frames (samples); 10 ms at 16 kHz"
        assert field_help()["audio", "top_db"].endswith("(dB)")

"""qser_core.data.espeak: eSpeak NG synthesis through ctypes."""

from __future__ import annotations

import numpy as np
import pytest

from qser_core.errors import BackendError
from qser_core.data.espeak import synthesize


class TestSynthesize:
    def test_speaks_int16_at_22050(self):
        y, sr = synthesize("It's eleven o'clock.", voice="en+f2")
        assert sr == 22050 and y.dtype == np.int16
        assert 0.6 < len(y) / sr < 3.0 and np.abs(y).max() > 1000

    def test_rate_and_pitch_parameters_act(self):
        slow, sr = synthesize("The surface is slick.", voice="en+m3", rate=120)
        fast, _ = synthesize("The surface is slick.", voice="en+m3", rate=260)
        assert len(slow) > 1.5 * len(fast)

    def test_unknown_voice(self):
        with pytest.raises(BackendError, match=r"no voice 'zz'"):
            synthesize("hello", voice="zz")

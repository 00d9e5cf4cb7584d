"""The dashboard's Plotly figures (app_support/plots.py): scales, ticks, legends and error bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.colors

from app_support import plots


class TestSpectrogram:
    def test_silence_is_dark_with_a_db_colour_bar(self):
        S = np.full((8, 20), -100.0)
        S[:, 5:10] = -10.0  # speech in the middle, floor (silence) around it
        trace = plots.log_mel(S, sr=16000, hop_length=160, fmin=50, fmax=8000).data[0]
        low, high = (plotly.colors.hex_to_rgb(c) if c.startswith("#") else plotly.colors.unlabel_rgb(c)
                     for c in (trace.colorscale[0][1], trace.colorscale[-1][1]))
        assert sum(low) < 60 < 600 < sum(high), "the lowest dB (silence) must be the darkest colour"
        assert (trace.zmin, trace.zmax) == (-90.0, -10.0)  # the peak and 80 dB below it
        assert trace.showscale and trace.colorbar.title.text == "dB"

    def test_small_multiples_keep_a_thin_colour_bar(self):
        trace = plots.log_mel(np.zeros((4, 4)), sr=16000, hop_length=160, fmin=0, fmax=8000, colorbar=False).data[0]
        assert trace.showscale and trace.colorbar.thickness < 16


class TestPca:
    def test_explained_variance_has_one_integer_tick_per_component(self):
        fig = plots.explained_variance([0.5, 0.3, 0.2], [0.5, 0.8, 1.0])
        assert (fig.layout.xaxis.tickmode, fig.layout.xaxis.dtick, fig.layout.xaxis.tick0) == ("linear", 1, 1)

    def _view(self, n=60):
        rng = np.random.default_rng(0)
        return {"scores": rng.normal(size=(n, 3)), "emotion": list(np.resize(["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"], n)),
                "speaker": [f"s{i % 5}" for i in range(n)], "part": list(np.resize(["train", "val", "test"], n))}

    def test_legend_is_six_emotions_and_three_parts(self):
        for three_d in (False, True):
            fig = plots.scatter(self._view(), three_d=three_d)
            names = [t.name for t in fig.data if t.showlegend is not False]
            assert names == ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD", "train speakers", "val speakers",
                             "test speakers"]
            colours = {t.name: t.marker.color for t in fig.data}
            assert colours["ANG"] == plots.EMOTION_COLORS["ANG"]

    def test_3d_scatter_fills_its_frame(self):
        fig = plots.scatter(self._view(), three_d=True)
        assert fig.layout.height >= 600 and fig.layout.margin.l == 0
        assert fig.layout.scene.aspectmode == "cube"

    def test_angles_chart_spans_zero_to_pi(self):
        values = np.random.default_rng(0).uniform(0, np.pi, size=(30, 4))
        fig = plots.angles(values, ["train"] * 20 + ["test"] * 10)
        assert [t.name for t in fig.data] == ["train", "val + test"]
        assert len(fig.data[0].y) == 20 * 4 and len(fig.data[1].y) == 10 * 4
        assert fig.layout.yaxis.range[1] > np.pi


class TestIntervals:
    def test_runs_without_an_interval_get_no_error_bar(self):
        frame = pd.DataFrame({"label": ["cv", "quick"], "ua": [0.4, 0.5], "ua_ci95_low": [0.35, np.nan],
                              "ua_ci95_high": [0.45, np.nan]})
        error = plots.metric_intervals(frame).data[0].error_y
        assert np.isclose(error.array[0], 0.05)
        assert error.array[1] is None or np.isnan(error.array[1])


class TestChartStyle:
    """Issue 19: mode-bar icons drawn over chart titles; one dB scale across spectrograms; padding marked."""

    def _figures(self):
        S = np.zeros((4, 4))
        return [plots.counts(pd.DataFrame({"emotion": ["ANG", "SAD"]}), "emotion", "Clips per emotion"),
                plots.waveform(np.zeros(100), 16000), plots.log_mel(S, sr=16000, hop_length=160, fmin=0, fmax=8000),
                plots.explained_variance([0.5, 0.5], [0.5, 1.0]),
                plots.curves([{"run": "split", "epoch": 1, "train_loss": 1.0, "val_loss": 1.1}], "loss", "loss"),
                plots.confusion(np.eye(2), ["ANG", "SAD"], "confusion"), plots.probabilities({"ANG": 1.0}, "p")]

    def test_the_mode_bar_stands_in_the_right_margin_beside_a_left_title(self):
        for fig in self._figures():
            assert fig.layout.modebar.orientation == "v" and fig.layout.margin.r >= 40
            assert (fig.layout.title.x, fig.layout.title.xanchor, fig.layout.title.font.size) == (0, "left", 16)

    def test_spectrograms_can_share_one_colour_scale(self):
        quiet, loud = np.full((4, 4), -50.0), np.full((4, 4), -10.0)
        peak = plots.shared_peak([quiet, loud])
        traces = [plots.log_mel(S, sr=16000, hop_length=160, fmin=0, fmax=8000, peak=peak).data[0]
                  for S in (quiet, loud)]
        assert peak == -10.0 and {(t.zmin, t.zmax) for t in traces} == {(-90.0, -10.0)}

    def test_padding_is_shaded_and_labelled(self):
        fig = plots.shade_padding(plots.waveform(np.zeros(48000), 16000), [(0.0, 0.4), (2.6, 3.0), (1.0, 1.0)])
        assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(0.0, 0.4), (2.6, 3.0)]
        assert [a.text for a in fig.layout.annotations] == ["padding", "padding"]

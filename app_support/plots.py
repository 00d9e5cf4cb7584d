"""Plotly figures of the dashboard (presentation only: the numbers come from qser_core)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

EMOTION_COLORS = {"ANG": "#d62728", "DIS": "#8c564b", "FEA": "#9467bd", "HAP": "#ff7f0e", "NEU": "#7f7f7f",
                  "SAD": "#1f77b4"}


#: Title style of every chart: one size, left-aligned above the plot (the log-mel charts included).
TITLE = dict(font=dict(size=16), x=0, xanchor="left", xref="paper")


def style(fig: go.Figure) -> go.Figure:
    """The dashboard's chart style: a vertical mode bar in the right margin, so its icons never cover the title.

    Plotly draws its horizontal mode bar over the top-right corner of the figure, where a long title
    (or any title in a narrow column) runs. Every figure of this module goes through here; other
    modules' figures can call it too.
    """
    fig.update_layout(modebar=dict(orientation="v"), title=TITLE)
    right = fig.layout.margin.r if fig.layout.margin.r is not None else 10
    fig.update_layout(margin=dict(r=max(right, 40)))
    return fig


def _tight(fig: go.Figure, height: int) -> go.Figure:
    # Room for axis titles: with theme=None Plotly draws them inside too-small margins.
    fig.update_layout(height=height, margin=dict(l=60, r=10, t=40, b=45))
    return style(fig)


def counts(table: pd.DataFrame, column: str, title: str, *, color: str | None = None) -> go.Figure:
    """Bar chart of how many clips have each value of ``column``."""
    fig = px.histogram(table, x=column, color=color, title=title,
                       color_discrete_map=EMOTION_COLORS if color == "emotion" else None)
    fig.update_xaxes(categoryorder="category ascending", type="category")
    return _tight(fig, 300)


def shade_padding(fig: go.Figure, padding: Sequence[tuple[float, float]]) -> go.Figure:
    """Mark the silence added to reach the models' clip length: light grey bands labelled "padding"."""
    for start, end in padding:
        if end > start:
            fig.add_vrect(x0=start, x1=end, fillcolor="#dddddd", opacity=0.55, line_width=0, layer="above",
                          annotation_text="padding", annotation_position="top left",
                          annotation_font=dict(size=10, color="#333"))
    return fig


def waveform(y: np.ndarray, sr: int, *, title: str = "Waveform", max_points: int = 4000) -> go.Figure:
    """Waveform over time; long clips are shown by their min/max envelope to keep the page light."""
    step = max(1, int(np.ceil(len(y) / max_points)))
    if step > 1:  # min/max per block keeps the peaks visible (display decimation, not analysis)
        blocks = y[: len(y) // step * step].reshape(-1, step)
        y_show = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).ravel()
        t = np.repeat(np.arange(len(blocks)) * step / sr, 2)
    else:
        y_show, t = y, np.arange(len(y)) / sr
    fig = go.Figure(go.Scattergl(x=t, y=y_show, mode="lines", line=dict(width=1)))
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis_title="amplitude")
    return _tight(fig, 220)


#: Perceptually uniform, dark at the low end: silence (the floor) is black, loud energy bright.
SPECTROGRAM_COLORS = "Magma"


def log_mel(S: np.ndarray, *, sr: int, hop_length: int, fmin: float, fmax: float, title: str = "Log-mel (dB)",
            height: int = 300, colorbar: bool = True, top_db: float = 80.0, peak: float | None = None) -> go.Figure:
    """Heatmap of a log-mel spectrogram ``(n_mels, t)`` in dB; y is the mel band index (fmin at the bottom).

    The colour scale spans ``peak`` minus ``top_db`` (silence, dark) to ``peak`` (bright), with a dB
    colour bar (a thin one where ``colorbar`` is False, for small multiples). ``peak`` defaults to the
    clip's own; give several charts the same one (:func:`shared_peak`) to compare them colour for colour.
    """
    t = np.arange(S.shape[1]) * hop_length / sr
    if peak is None:
        peak = float(np.max(S)) if S.size else 0.0
    bar = dict(title=dict(text="dB", side="right"), ticksuffix=" dB", thickness=16 if colorbar else 8)
    fig = go.Figure(go.Heatmap(z=S, x=t, y=np.arange(S.shape[0]), colorscale=SPECTROGRAM_COLORS, zmin=peak - top_db,
                               zmax=peak, colorbar=bar, showscale=True,
                               hovertemplate="%{x:.2f} s · band %{y} · %{z:.1f} dB<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis_title=f"mel band ({fmin:g}–{fmax:g} Hz)")
    return _tight(fig, height)


def shared_peak(spectrograms: Sequence[np.ndarray]) -> float:
    """The loudest value over several log-mel spectrograms: one colour scale for all of them."""
    return max((float(np.max(S)) for S in spectrograms if np.size(S)), default=0.0)


def explained_variance(ratio: Sequence[float], cumulative: Sequence[float]) -> go.Figure:
    """Share of variance per PCA component (bars) and cumulated (line); one integer tick per component."""
    k = np.arange(1, len(ratio) + 1)
    fig = go.Figure([go.Bar(x=k, y=ratio, name="per component"),
                     go.Scatter(x=k, y=cumulative, name="cumulative", mode="lines+markers")])
    fig.update_layout(title="Explained variance (PCA fit on training speakers)", xaxis_title="component / qubit",
                      yaxis_title="share of variance", yaxis_range=[0, 1])
    fig.update_xaxes(tickmode="linear", tick0=1, dtick=1)
    return _tight(fig, 320)


PART_SYMBOLS = {"train": "circle", "val": "diamond", "test": "x", "validation": "diamond"}


def scatter(view: dict[str, Any], *, three_d: bool) -> go.Figure:
    """Clips in PCA space: colour = emotion, marker = part of the split, one compact legend for each."""
    scores = np.asarray(view["scores"])
    frame = pd.DataFrame({"emotion": view["emotion"], "speaker": view["speaker"], "part": view["part"]})
    three_d = three_d and scores.shape[1] >= 3
    parts = list(dict.fromkeys(frame["part"]))
    symbols = {part: PART_SYMBOLS.get(part, "square") for part in parts}
    traces = []
    emotions = sorted(frame["emotion"].unique())
    for emotion in emotions:
        for part in parts:
            rows = np.flatnonzero((frame["emotion"] == emotion).to_numpy() & (frame["part"] == part).to_numpy())
            if not len(rows):
                continue
            marker = dict(color=EMOTION_COLORS.get(emotion), symbol=symbols[part], size=4 if three_d else 7)
            common = dict(name=emotion, legendgroup=emotion, showlegend=False, mode="markers", marker=marker,
                          customdata=frame["speaker"].to_numpy()[rows],
                          hovertemplate=f"{emotion} · {part} · speaker %{{customdata}}<extra></extra>")
            if three_d:
                traces.append(go.Scatter3d(x=scores[rows, 0], y=scores[rows, 1], z=scores[rows, 2], **common))
            else:
                traces.append(go.Scatter(x=scores[rows, 0], y=scores[rows, 1], **common))
    # Legend-only entries: colour = emotion (round markers; a click hides that emotion), marker = part (grey).
    legend = [(emotion, emotion, dict(color=EMOTION_COLORS.get(emotion), symbol="circle", size=9))
              for emotion in emotions]
    legend += [(f"{part} speakers", f"part.{part}", dict(color="#555", symbol=symbols[part], size=9))
               for part in parts]
    for name, group, marker in legend:
        dummy = go.Scatter3d(x=[None], y=[None], z=[None]) if three_d else go.Scatter(x=[None], y=[None])
        traces.append(dummy.update(name=name, mode="markers", marker=marker, legendgroup=group))
    fig = go.Figure(traces)
    fig.update_layout(title="Clips in PCA space (colour = emotion, marker = part)",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, itemsizing="constant"))
    if three_d:
        fig.update_layout(scene=dict(xaxis_title="PC1", yaxis_title="PC2", zaxis_title="PC3", aspectmode="cube"),
                          height=640, margin=dict(l=0, r=0, t=40, b=60), legend_y=0.0, legend_yanchor="top")
        return fig
    fig.update_layout(xaxis_title="PC1", yaxis_title="PC2")
    fig = _tight(fig, 560)
    fig.update_layout(margin=dict(b=110))  # room for the legend under the axis title
    return fig


def angles(values: np.ndarray, part: Sequence[str]) -> go.Figure:
    """Distribution of the rotation angle each qubit receives (radians, [0, π]), training vs held-out clips."""
    values = np.asarray(values)
    part = np.asarray(part)
    fig = go.Figure()
    for name, rows, color in (("train", part == "train", "#1f77b4"), ("val + test", part != "train", "#ff7f0e")):
        k = np.tile(np.arange(1, values.shape[1] + 1), int(rows.sum()))
        fig.add_trace(go.Box(x=k, y=values[rows].ravel(), name=name, marker_color=color, boxpoints=False))
    fig.update_layout(title="Angles the circuit receives (after scaling)", boxmode="group", xaxis_title="qubit",
                      yaxis_title="angle (rad)", legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    fig.update_xaxes(tickmode="linear", tick0=1, dtick=1)
    fig.update_yaxes(range=[-0.1, np.pi + 0.1], tickvals=[0, np.pi / 2, np.pi], ticktext=["0", "π/2", "π"])
    fig = _tight(fig, 520)
    fig.update_layout(margin=dict(t=70))
    return fig


def curves(rows: list[dict[str, Any]], metric: str, title: str) -> go.Figure:
    """Training curves: ``train_<metric>`` and ``val_<metric>`` per epoch, one line per run."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return _tight(go.Figure().update_layout(title=title), 260)
    long = frame.melt(id_vars=["run", "epoch"], value_vars=[f"train_{metric}", f"val_{metric}"],
                      var_name="curve", value_name=metric)
    long["line"] = long["curve"] + (" · " + long["run"] if frame["run"].nunique() > 1 else "")
    fig = px.line(long, x="epoch", y=metric, color="line", markers=True, title=title)
    return _tight(fig, 260)


def confusion(matrix: Any, labels: Sequence[str], title: str) -> go.Figure:
    fig = px.imshow(np.asarray(matrix), x=list(labels), y=list(labels), text_auto=True, color_continuous_scale="Blues",
                    labels=dict(x="predicted", y="true", color="clips"), title=title)
    return _tight(fig, 320)


def probabilities(proba: dict[str, float], title: str) -> go.Figure:
    fig = px.bar(x=list(proba), y=list(proba.values()), color=list(proba), color_discrete_map=EMOTION_COLORS,
                 labels=dict(x="emotion", y="probability"), title=title)
    fig.update_layout(showlegend=False, yaxis_range=[0, 1])
    return _tight(fig, 280)


def metric_intervals(frame: pd.DataFrame, metric: str = "ua") -> go.Figure:
    """Mean with 95% interval error bars per run (columns ``label``, ``ua``, ``ua_ci95_low``, ``ua_ci95_high``)."""
    low, high = frame.get(f"{metric}_ci95_low"), frame.get(f"{metric}_ci95_high")
    error = None
    if low is not None and high is not None:  # a run without an interval gets no bar (NaN draws nothing, 0 a cap)
        error = dict(type="data", symmetric=False, array=(high - frame[metric]).to_numpy(dtype=float),
                     arrayminus=(frame[metric] - low).to_numpy(dtype=float))
    fig = go.Figure(go.Bar(x=frame["label"], y=frame[metric], error_y=error))
    fig.update_layout(title=f"{metric.upper()} with 95% interval", yaxis_title=metric, yaxis_range=[0, 1])
    return _tight(fig, 340)


def _interval(values: Sequence[float], intervals: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Asymmetric error bars from 95% intervals ``[(low, high), …]`` around ``values``."""
    return dict(type="data", symmetric=False, array=[hi - v for v, (_, hi) in zip(values, intervals)],
                arrayminus=[v - lo for v, (lo, _) in zip(values, intervals)])


#: Trace names of the two heads of a noise-aware comparison.
TRAINING_NAMES = {"ideal": "ideal-trained", "noise_aware": "noise-aware"}


def noise_aware_curves(result: dict[str, Any]) -> go.Figure:
    """UA against λ of the ideal-trained and the noise-aware head (95% intervals), each head's exact-simulation
    UA as a dotted line (:func:`qser_core.hardware.noise_aware.compare_training`'s result)."""
    points = result["points"]
    lams = [p["noise_scale"] for p in points]
    fig = go.Figure()
    for name, label in TRAINING_NAMES.items():
        ua = [p[name]["ua"] for p in points]
        fig.add_trace(go.Scatter(x=lams, y=ua, mode="lines+markers", name=label,
                                 error_y=_interval(ua, [p[name]["ua_ci95"] for p in points])))
    for name, dash in (("ideal", "dot"), ("noise_aware", "dashdot")):
        fig.add_hline(y=result["ideal"][name]["ua"], line_dash=dash, line_color="grey",
                      annotation_text=f"{TRAINING_NAMES[name]}, exact simulation", annotation_position="top left")
    fig.update_layout(title=f"UA under {result['backend']}'s noise × λ ({result['jobs']} jobs, "
                            f"{result['n_test']} clips, {result['shots']} shots)",
                      yaxis_title="unweighted accuracy (UA)", legend_title="training",
                      xaxis=dict(title="noise scale λ", tickmode="array", tickvals=lams))
    return _tight(fig, 360)


def shots_advice(advice: dict[str, Any]) -> go.Figure:
    """Agreement with the ideal predictions and UA (95% intervals) against shots, with the agreement target,
    the ideal run's UA interval as a band and the recommended shots marked
    (:func:`qser_core.hardware.advisor.advise`'s result)."""
    points = advice["points"]
    shots = [p["shots"] for p in points]
    ua = [p["ua"] for p in points]
    low, high = advice["ideal"]["ua_ci95"]
    fig = go.Figure()
    fig.add_hrect(y0=low, y1=high, fillcolor="#1f77b4", opacity=0.12, line_width=0,
                  annotation_text="ideal UA 95% interval", annotation_position="bottom left")
    fig.add_trace(go.Scatter(x=shots, y=[p["agreement"] for p in points], mode="lines+markers",
                             name="agreement with ideal", line=dict(color="#2ca02c")))
    fig.add_trace(go.Scatter(x=shots, y=ua, mode="lines+markers", name="UA", line=dict(color="#1f77b4"),
                             error_y=_interval(ua, [p["ua_ci95"] for p in points])))
    fig.add_hline(y=advice["target"], line_dash="dash", line_color="#2ca02c",
                  annotation_text=f"agreement target {advice['target']:.0%}", annotation_position="top left")
    if (best := advice["recommendation"]["shots"]) is not None:  # a marker: annotations on a log axis need log10 x
        chosen = next(p for p in points if p["shots"] == best)
        fig.add_trace(go.Scatter(x=[best], y=[chosen["agreement"]], mode="markers", name=f"recommended: {best}",
                                 marker=dict(symbol="star", size=14, color="#d62728")))
    fig.update_layout(title=f"Shots on {advice['backend']}'s noise (λ = {advice['noise_scale']:g}, "
                            f"{advice['jobs']} jobs)", yaxis_title="share of clips / UA", yaxis_range=[0, 1.05],
                      xaxis=dict(type="log", tickvals=shots, title="shots per clip"))
    return _tight(fig, 360)

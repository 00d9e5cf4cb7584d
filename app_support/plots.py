"""Plotly figures of the dashboard (presentation only: the numbers come from qser_core)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

EMOTION_COLORS = {"ANG": "#d62728", "DIS": "#8c564b", "FEA": "#9467bd", "HAP": "#ff7f0e", "NEU": "#7f7f7f",
                  "SAD": "#1f77b4"}


def _tight(fig: go.Figure, height: int) -> go.Figure:
    # Room for axis titles: with theme=None Plotly draws them inside too-small margins.
    fig.update_layout(height=height, margin=dict(l=60, r=10, t=40, b=45))
    return fig


def counts(table: pd.DataFrame, column: str, title: str, *, color: str | None = None) -> go.Figure:
    """Bar chart of how many clips have each value of ``column``."""
    fig = px.histogram(table, x=column, color=color, title=title,
                       color_discrete_map=EMOTION_COLORS if color == "emotion" else None)
    fig.update_xaxes(categoryorder="category ascending", type="category")
    return _tight(fig, 300)


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


def log_mel(S: np.ndarray, *, sr: int, hop_length: int, fmin: float, fmax: float, title: str = "Log-mel (dB)",
            height: int = 300, colorbar: bool = True) -> go.Figure:
    """Heatmap of a log-mel spectrogram ``(n_mels, t)``; y is the mel band index (fmin at the bottom)."""
    t = np.arange(S.shape[1]) * hop_length / sr
    fig = go.Figure(go.Heatmap(z=S, x=t, y=np.arange(S.shape[0]), colorscale="Magma", showscale=colorbar,
                               colorbar=dict(title="dB")))
    fig.update_layout(title=title, xaxis_title="time (s)", yaxis_title=f"mel band ({fmin:g}–{fmax:g} Hz)")
    return _tight(fig, height)


def explained_variance(ratio: Sequence[float], cumulative: Sequence[float]) -> go.Figure:
    k = np.arange(1, len(ratio) + 1)
    fig = go.Figure([go.Bar(x=k, y=ratio, name="per component"),
                     go.Scatter(x=k, y=cumulative, name="cumulative", mode="lines+markers")])
    fig.update_layout(title="Explained variance (PCA fit on training speakers)", xaxis_title="component / qubit",
                      yaxis_title="share of variance", yaxis_range=[0, 1])
    return _tight(fig, 320)


def scatter(view: dict[str, Any], *, three_d: bool) -> go.Figure:
    scores = view["scores"]
    frame = pd.DataFrame({"PC1": scores[:, 0], "PC2": scores[:, 1], "emotion": view["emotion"],
                          "speaker": view["speaker"], "part": view["part"]})
    if three_d and scores.shape[1] >= 3:
        frame["PC3"] = scores[:, 2]
        fig = px.scatter_3d(frame, x="PC1", y="PC2", z="PC3", color="emotion", symbol="part",
                            hover_data=["speaker"], color_discrete_map=EMOTION_COLORS)
        fig.update_traces(marker_size=3)
    else:
        fig = px.scatter(frame, x="PC1", y="PC2", color="emotion", symbol="part", hover_data=["speaker"],
                         color_discrete_map=EMOTION_COLORS)
    fig.update_layout(title="Clips in PCA space (coloured by emotion)")
    return _tight(fig, 480)


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
    if low is not None and high is not None:
        error = dict(type="data", symmetric=False, array=(high - frame[metric]).fillna(0),
                     arrayminus=(frame[metric] - low).fillna(0))
    fig = go.Figure(go.Bar(x=frame["label"], y=frame[metric], error_y=error))
    fig.update_layout(title=f"{metric.upper()} with 95% interval", yaxis_title=metric, yaxis_range=[0, 1])
    return _tight(fig, 340)

"""Plotly figures of the Sweeps page, drawn from :meth:`qser_core.experiments.sweeps.runner.SweepResult.frame`.

Presentation only: the numbers (UA means, 95% intervals, paired tests) come from qser_core.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

SIGNIFICANT = 0.05  # p-value below which a quantum − matched-MLP difference is marked
MIN_INTERVAL_VALUES = 3  # as qser_core.experiments.metrics: fewer values give no meaningful 95% interval
MIN_COLOUR_SPAN = 0.10  # UA points: the heatmap's colour scale is never narrower (a 0.013 gap stays pale)


def few_values(frame: pd.DataFrame) -> int | None:
    """The smallest number of folds × seeds behind a finished cell's interval when below 3, else None."""
    if "n_values" not in frame:
        return None
    n = pd.to_numeric(_finished(frame)["n_values"], errors="coerce").dropna()
    return int(n.min()) if len(n) and n.min() < MIN_INTERVAL_VALUES else None


def _finished(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "finished"]


def _line_label(frame: pd.DataFrame, axes: list[str]) -> pd.Series:
    """One line per head and per value of every other axis except the qubit count."""
    others = [a for a in axes if a not in ("head.kind", "reduce.n_qubits")]
    label = frame["head"].astype(str)
    for axis in others:
        label = label + " · " + axis.split(".")[-1] + "=" + frame[axis].astype(str)
    return label


def ua_vs_qubits(frame: pd.DataFrame, axes: list[str]) -> go.Figure:
    """UA against the qubit count, one line per head (and per setting of the other axes).

    The 95% interval over folds × seeds is drawn as a band, except where fewer than 3 values lie behind it
    (2 folds × 1 seed): such an interval means little, so no band is drawn and the title says why.
    """
    data = _finished(frame).sort_values("n_qubits").assign(line=lambda f: _line_label(f, axes))
    few = few_values(frame)
    fig = go.Figure()
    for i, (name, part) in enumerate(data.groupby("line", sort=True)):
        color = px.colors.qualitative.Plotly[i % len(px.colors.qualitative.Plotly)]
        if few is None:
            band = pd.concat([part["n_qubits"], part["n_qubits"][::-1]])
            fig.add_trace(go.Scatter(x=band, y=pd.concat([part["ua_high"], part["ua_low"][::-1]]), fill="toself",
                                     line=dict(width=0), fillcolor=color, opacity=0.15, hoverinfo="skip",
                                     showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=part["n_qubits"], y=part["ua"], mode="lines+markers", name=name,
                                 line=dict(color=color), legendgroup=name))
    title = ("UA vs qubits (bands: 95% interval over folds × seeds)" if few is None else
             f"UA vs qubits (no interval bands: only {few} folds × seeds per cell)")
    fig.update_layout(title=title, xaxis_title="qubits (PCA dims)", yaxis_title="UA", height=420,
                      margin=dict(l=60, r=10, t=40, b=45))
    return fig


def quantum_heatmap(frame: pd.DataFrame) -> go.Figure | None:
    """Quantum-head UA over qubits × layers (mean over any other axis); None without quantum cells."""
    data = _finished(frame)
    data = data[data["head"] == "quantum"]
    if data.empty:
        return None
    grid = data.pivot_table(index="n_layers", columns="n_qubits", values="ua", aggfunc="mean")
    low, high = float(grid.min().min()), float(grid.max().max())
    pad = max(MIN_COLOUR_SPAN - (high - low), 0.0) / 2  # a small difference keeps a small colour difference
    low, high = max(low - pad, 0.0), min(high + pad, 1.0)
    fig = px.imshow(grid, text_auto=".3f", aspect="auto", color_continuous_scale="Viridis", range_color=(low, high),
                    labels=dict(x="qubits", y="layers", color="UA"),
                    title=f"Quantum head: UA over qubits × layers (colour scale {low:.2f}–{high:.2f})")
    fig.update_yaxes(type="category")
    fig.update_xaxes(type="category")
    fig.update_layout(height=360, margin=dict(l=60, r=10, t=40, b=45))
    return fig


def quantum_minus_matched(frame: pd.DataFrame, axes: list[str]) -> go.Figure | None:
    """Quantum UA minus its parameter-matched MLP's per cell; McNemar's p written on each bar."""
    data = _finished(frame).dropna(subset=["delta_ua_vs_matched"])
    if data.empty:
        return None
    cell = [" · ".join(f"{a.split('.')[-1]}={row[a]}" for a in axes if a != "head.kind") or "quantum"
            for _, row in data.iterrows()]
    significant = data["p_vs_matched"] < SIGNIFICANT
    fig = go.Figure(go.Bar(x=cell, y=data["delta_ua_vs_matched"],
                           marker_color=["#d62728" if s else "#7f7f7f" for s in significant],
                           text=[f"p={p:.3g}{' *' if s else ''}" for p, s in zip(data["p_vs_matched"], significant)],
                           textposition="outside"))
    fig.update_layout(title=f"Quantum − parameter-matched MLP (UA; red, *: McNemar p < {SIGNIFICANT})",
                      yaxis_title="ΔUA", height=380, margin=dict(l=60, r=10, t=40, b=45))
    return fig


def params_vs_ua(frame: pd.DataFrame) -> go.Figure:
    """Trainable parameters against UA, one colour per head."""
    data = _finished(frame)
    fig = px.scatter(data, x="params", y="ua", color="head", error_y=data["ua_high"] - data["ua"],
                     error_y_minus=data["ua"] - data["ua_low"], log_x=True, hover_data=["n_qubits", "n_layers"],
                     title="Trainable parameters vs UA", labels={"params": "trainable parameters", "ua": "UA"})
    fig.update_layout(height=380, margin=dict(l=60, r=10, t=40, b=45))
    return fig

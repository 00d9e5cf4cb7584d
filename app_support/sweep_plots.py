"""Plotly figures of the Sweeps page, drawn from :meth:`qser_core.experiments.sweep.SweepResult.frame`.

Presentation only: the numbers (UA means, 95% intervals, paired tests) come from qser_core.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

SIGNIFICANT = 0.05  # p-value below which a quantum − matched-MLP difference is marked


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
    """UA against the qubit count with 95% bands, one line per head (and per setting of the other axes)."""
    data = _finished(frame).sort_values("n_qubits").assign(line=lambda f: _line_label(f, axes))
    fig = go.Figure()
    for i, (name, part) in enumerate(data.groupby("line", sort=True)):
        color = px.colors.qualitative.Plotly[i % len(px.colors.qualitative.Plotly)]
        band = pd.concat([part["n_qubits"], part["n_qubits"][::-1]])
        fig.add_trace(go.Scatter(x=band, y=pd.concat([part["ua_high"], part["ua_low"][::-1]]), fill="toself",
                                 line=dict(width=0), fillcolor=color, opacity=0.15, hoverinfo="skip",
                                 showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=part["n_qubits"], y=part["ua"], mode="lines+markers", name=name,
                                 line=dict(color=color), legendgroup=name))
    fig.update_layout(title="UA vs qubits (bands: 95% interval over folds × seeds)", xaxis_title="qubits (PCA dims)",
                      yaxis_title="UA", height=420, margin=dict(l=60, r=10, t=40, b=45))
    return fig


def quantum_heatmap(frame: pd.DataFrame) -> go.Figure | None:
    """Quantum-head UA over qubits × layers (mean over any other axis); None without quantum cells."""
    data = _finished(frame)
    data = data[data["head"] == "quantum"]
    if data.empty:
        return None
    grid = data.pivot_table(index="n_layers", columns="n_qubits", values="ua", aggfunc="mean")
    fig = px.imshow(grid, text_auto=".3f", aspect="auto", color_continuous_scale="Viridis",
                    labels=dict(x="qubits", y="layers", color="UA"), title="Quantum head: UA over qubits × layers")
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

"""Compare runs: every recorded run in a filterable table, charts with intervals, paired tests, CSV."""

import streamlit as st

from app_support import cache, plots
from qser_core.experiments.compare import PREDICTION_RUN_TYPES

P = "compare"
st.title("Compare runs")
runs = cache.runs()
if runs.empty:
    st.info("No runs recorded yet. Train heads on the Train page (or run `qser evaluate`) and come back.")
    st.stop()

cols = st.columns(4)
filters = {}
for column, name in zip(cols, ("dataset", "head", "run_type", "backbone")):
    values = sorted(v for v in runs[name].dropna().unique() if v)
    filters[name] = column.multiselect(name.replace("_", " ").capitalize(), values, key=f"{P}.f.{name}")
shown = runs
for name, chosen in filters.items():
    if chosen:
        shown = shown[shown[name].isin(chosen)]
finished = st.toggle("Finished runs only", value=True, key=f"{P}.finished")
if finished:
    from qser_core.tracking.reader import COMPLETED

    shown = shown[shown["qser_status"].isin(COMPLETED)]  # stopped runs are partial: not beside finished ones
FIRST = ["ua", "wa", "macro_f1", "head", "run_type", "n_qubits", "dataset"]  # what is compared, on screen first
table = shown[FIRST + [c for c in shown.columns if c not in FIRST and c != "config_digest"]]
st.dataframe(table, hide_index=True, key=f"{P}.table", column_config={
    name: st.column_config.NumberColumn(name, format="%.3f")
    for name in ("ua", "wa", "macro_f1", "ua_ci95_low", "ua_ci95_high")})
st.download_button("Download as CSV", shown.to_csv(index=False), file_name="qser_runs.csv", mime="text/csv",
                   key=f"{P}.csv")


def label(run_id: str) -> str:
    row = runs.set_index("run_id").loc[run_id]
    qubits = f"{row['n_qubits']}q" if str(row["n_qubits"]) != "<NA>" else ""
    return f"{row['head']} {qubits} {row['run_type']} · {row['start_time']:%m-%d %H:%M} · {run_id[:6]}"


st.subheader("Runs side by side")
ids = shown["run_id"].tolist()
picked = st.multiselect("Runs", ids, default=ids[:4], format_func=label, key=f"{P}.picked")
if picked:
    chart = shown.set_index("run_id").loc[picked].reset_index()
    chart["label"] = [label(r) for r in picked]
    metric = st.radio("Metric", ["ua", "wa", "macro_f1"], horizontal=True, key=f"{P}.metric")
    st.plotly_chart(plots.metric_intervals(chart, metric), key=f"{P}.chart")
    st.caption("Error bars: 95% interval over folds × seeds (cross-validation runs; single-split runs have none).")

st.subheader("Paired significance test")
paired = shown[shown["run_type"].isin(PREDICTION_RUN_TYPES)]["run_id"].tolist()
if len(paired) < 2:
    st.info("Paired tests need two training or cross-validation runs on the same clips (Train page, or "
            "`qser train` / `qser evaluate`): they store the per-clip predictions the tests compare.")
    st.stop()
cols = st.columns(2)
run_a = cols[0].selectbox("Run A", paired, index=0, format_func=label, key=f"{P}.a")
run_b = cols[1].selectbox("Run B", paired, index=1, format_func=label, key=f"{P}.b")
if run_a == run_b:
    st.info("Pick two different runs.")
    st.stop()
test = cache.paired_test(run_a, run_b)
mc, bs = test["mcnemar"], test["bootstrap"]
cols = st.columns(3)
cols[0].metric("Clips compared", test["n_clips"])
cols[1].metric("McNemar p", f"{mc['p_value']:.3g}", help=f"A right, B wrong: {mc['b']}; A wrong, B right: {mc['c']}")
cols[2].metric("UA difference A − B", f"{bs['diff']:+.3f}",
               help=f"95% bootstrap interval [{bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f}], p = {bs['p_value']:.3g}")
st.caption(f"Paired on the same test clips (seed {test['seed']}); bootstrap 95% interval of the UA difference: "
           f"[{bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f}], p = {bs['p_value']:.3g}.")

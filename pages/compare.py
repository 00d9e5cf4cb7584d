"""Compare runs: every recorded run in a filterable table, charts with intervals, paired tests, CSV."""

import streamlit as st

import pandas as pd

from app_support import cache, plots
from qser_core.experiments.protocols.compare import PREDICTION_RUN_TYPES
from qser_core.tracking.reader import comparable, delete_run, sweep_grid

P = "compare"
HIDDEN = f"{P}.hidden"  # run ids hidden in this session (the store keeps them)
#: What is compared, on screen first; then the rest (config_digest and parent ids are for machines).
FIRST = ["ua", "wa", "macro_f1", "ua_ci95", "qser_status", "head", "run_type", "n_qubits", "dataset"]
CONFIG_COLUMNS = ["head", "n_qubits", "encoding", "ansatz", "n_layers", "backbone", "seeds"]


@st.cache_data(show_spinner=False, max_entries=256)
def grid_of(run_id: str) -> str:
    return sweep_grid(run_id)


def display_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs as the app writes numbers: 3 decimals, one interval column, blanks (not None) where a run has no
    value; a sweep parent shows its grid instead of the base config its children override."""
    table = runs.drop(columns=["config_digest"]).copy()
    table["ua_ci95"] = [f"[{lo:.3f}, {hi:.3f}]" if pd.notna(lo) and pd.notna(hi) else ""
                        for lo, hi in zip(table.pop("ua_ci95_low"), table.pop("ua_ci95_high"))]
    for name in ("ua", "wa", "macro_f1"):
        table[name] = [f"{v:.3f}" if pd.notna(v) else "" for v in table[name]]
    for name in ("params", "epochs_run", "best_epoch"):
        table[name] = [f"{v:.0f}" if pd.notna(v) else "" for v in table[name]]
    table["duration_s"] = [f"{v:.0f}" if pd.notna(v) else "" for v in table["duration_s"]]
    sweep = table["run_type"] == "sweep"
    table["grid"] = [grid_of(r) if is_sweep else "" for r, is_sweep in zip(table["run_id"], sweep)]
    table.loc[sweep, CONFIG_COLUMNS] = None
    table["qser_status"] = table["qser_status"].replace({"stopped": "STOPPED"})
    # Naive UTC for display: Arrow reads a tz-aware column through Series.values, which pandas 3.1 deprecates.
    table["start_time"] = table["start_time"].dt.tz_convert(None)
    table = table[FIRST + [c for c in table.columns if c not in FIRST]]
    text = [c for c in table.columns if c != "start_time"]
    table[text] = table[text].astype(object).where(table[text].notna(), "").astype(str)  # Arrow: one type
    return table
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
finished = st.toggle("Finished runs only", value=True, key=f"{P}.finished",
                     help="Runs that ended normally and have test metrics: runs stopped with Stop (partial), "
                          "failed or still running, sweep parents and hardware noise curves are left out.")
if finished:
    shown = comparable(shown)
hidden = st.session_state.setdefault(HIDDEN, [])
if hidden:
    shown = shown[~shown["run_id"].isin(hidden)]
st.dataframe(display_table(shown), hide_index=True, key=f"{P}.table", column_config={
    "start_time": st.column_config.DatetimeColumn("start_time (UTC)", format="YYYY-MM-DD HH:mm"),
    "qser_status": st.column_config.TextColumn("status", help="finished, early-stopped, or STOPPED by the user "
                                               "(a partial result), failed, interrupted, running, gone")})
st.download_button("Download as CSV", shown.to_csv(index=False), file_name="qser_runs.csv", mime="text/csv",
                   key=f"{P}.csv")


def label(run_id: str) -> str:
    row = runs.set_index("run_id").loc[run_id]
    qubits = f"{row['n_qubits']}q" if str(row["n_qubits"]) != "<NA>" else ""
    stopped = "STOPPED · " if row["qser_status"] == "stopped" else ""
    return f"{stopped}{row['head']} {qubits} {row['run_type']} · {row['start_time']:%m-%d %H:%M} · {run_id[:6]}"


with st.expander("Hide or delete runs"):
    chosen = st.multiselect("Runs", shown["run_id"].tolist(), format_func=label, key=f"{P}.manage")
    cols = st.columns([1, 1, 3])
    if cols[0].button("Hide", key=f"{P}.hide", disabled=not chosen, help="Leave them out of this page for this "
                      "session; the store keeps them."):
        st.session_state[HIDDEN] = [*hidden, *chosen]
        st.rerun()
    if cols[1].button("Show hidden", key=f"{P}.unhide", disabled=not hidden):
        st.session_state[HIDDEN] = []
        st.rerun()
    confirm = cols[2].checkbox("Delete them from the store for good", key=f"{P}.confirm")
    if st.button("Delete", key=f"{P}.delete", disabled=not (chosen and confirm), type="secondary"):
        for run_id in chosen:
            delete_run(run_id)
        cache.runs.clear()
        st.rerun()
    if hidden:
        st.caption(f"{len(hidden)} run{'s' if len(hidden) > 1 else ''} hidden in this session.")


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

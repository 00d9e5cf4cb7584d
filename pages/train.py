"""Train: classical and quantum heads on the same inputs, live curves, Stop, results with intervals."""

import pandas as pd
import streamlit as st

from app_support import jobs, plots, state, widgets
from qser_core.config import ANSATZE, ENCODINGS, HEAD_KINDS
from qser_core.data import EMOTIONS

P = "train"
st.title("Train")
job = st.session_state.get(state.TRAIN_JOB)
running = job is not None and job.alive

heads = st.multiselect("Heads to compare", HEAD_KINDS, default=["logreg", "quantum"], key=f"{P}.heads")
mode = st.radio("Protocol", jobs.MODES, horizontal=True, key=f"{P}.mode", format_func=lambda m: {
    "quick": "quick: one speaker-disjoint split", "cross-validation": "cross-validation: folds × seeds (intervals)"}[m])
cols = st.columns(4)
with cols[0]:
    widgets.bind(st.slider, "reduce", "n_qubits", "Qubits", page=P, min_value=2, max_value=12)
    widgets.bind(st.slider, "head", "n_layers", "Layers", page=P, min_value=1, max_value=8)
with cols[1]:
    widgets.bind(st.selectbox, "head", "encoding", "Encoding", page=P, options=ENCODINGS)
    widgets.bind(st.selectbox, "head", "ansatz", "Ansatz", page=P, options=ANSATZE)
with cols[2]:
    widgets.bind(st.number_input, "train", "epochs", "Epochs (max)", page=P, min_value=1, max_value=1000)
    widgets.bind(st.number_input, "train", "lr", "Learning rate", page=P, min_value=1e-5, max_value=1.0,
                 step=0.005, format="%.4f")
with cols[3]:
    widgets.bind(st.text_input, "train", "seeds", "Seeds (comma-separated)", page=P,
                 from_config=lambda s: ", ".join(map(str, s)),
                 to_config=lambda t: tuple(int(v) for v in t.replace(",", " ").split()))
    if mode == "cross-validation":
        widgets.bind(st.number_input, "data", "n_folds", "Folds", page=P, min_value=2, max_value=20)
config = state.get_config()

cols = st.columns([1, 1, 4])
if cols[0].button("Train", type="primary", disabled=running or not heads, key=f"{P}.start"):
    job = jobs.TrainingJob(config, heads, mode=mode).start()
    st.session_state[state.TRAIN_JOB], st.session_state[f"{P}.watching"] = job, True
    running = True
if cols[1].button("Stop", disabled=not running, key=f"{P}.stop"):
    job.stop()
    cols[2].info("Stopping: the running head finishes its current batch and keeps its best weights.")


@st.fragment(run_every=1.0 if running else None)
def live() -> None:
    snap = job.snapshot()
    done, total, message = snap.progress
    st.progress(min(done / total, 1.0) if total else 0.0, text=f"{snap.status} · {message} · {snap.seconds:.0f} s")
    for column, head in zip(st.columns(len(snap.heads)), snap.heads):
        with column:
            st.markdown(f"**{head}**")
            st.plotly_chart(plots.curves(snap.logs[head], "loss", "loss"), key=f"{P}.loss.{head}")
            st.plotly_chart(plots.curves(snap.logs[head], "acc", "accuracy"), key=f"{P}.acc.{head}")
    if snap.error:
        st.error(snap.error)
    for note in snap.notes:
        st.warning(note)
    if snap.finished and st.session_state.get(f"{P}.watching"):
        st.session_state[f"{P}.watching"] = False
        st.rerun(scope="app")  # stop polling and show the results
    if snap.finished:
        results(snap)


def results(snap: jobs.JobSnapshot) -> None:
    st.subheader("Results on held-out speakers")
    rows = []
    for column, (head, result) in zip(st.columns(max(len(snap.results), 1)), snap.results.items()):
        summary = result.summary() if snap.mode == "cross-validation" else result.metrics
        row = {"head": head, "params": summary.get("params")}
        for name in ("ua", "wa", "macro_f1"):
            low, high = summary.get(f"{name}_ci95", (None, None))
            row[name] = f"{summary[name]:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")
        row["run_id"] = getattr(result, "run_id", None)
        rows.append(row)
        column.plotly_chart(plots.confusion(summary["confusion"], EMOTIONS, f"{head}: confusion"),
                            key=f"{P}.cm.{head}")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{P}.table")
    st.caption("UA = unweighted accuracy (mean recall over emotions), WA = accuracy; "
               + ("[95% interval over folds × seeds]." if snap.mode == "cross-validation" else
                  "one split, no interval: use cross-validation for intervals."))


if job is None:
    st.info("Choose heads and settings, then press Train. Training runs in the background: you can visit other "
            "pages and come back.")
else:
    live()

"""Train: classical and quantum heads on the same inputs, live curves, Stop, results with intervals.

The hybrid protocol trains the backbone tail + reduction + PQC end to end and compares it with the
frozen-backbone PQC head on the same split and seed (:func:`qser_core.experiments.protocols.hybrid.train_hybrid`).
"""

import pandas as pd
import streamlit as st

from app_support import jobs, plots, state, widgets
from qser_core.config import ANSATZE, ENCODINGS, HEAD_KINDS, LAYER_RANGE, QUBIT_RANGE
from qser_core.data.corpus import EMOTIONS
from qser_core.errors import ConfigError
from qser_core.experiments.models.hybrid_network import check_hybrid_config

P = "train"
st.title("Train")
busy = jobs.BOARD.running()  # jobs of every tab and session on this server
job = st.session_state.get(state.TRAIN_JOB)
if job is None and busy:  # a tab opened while a job trains watches it
    job = st.session_state[state.TRAIN_JOB] = busy[0].job
running = job is not None and job.alive

MODE_LABELS = {"quick": "quick: one speaker-disjoint split",
               "cross-validation": "cross-validation: folds × seeds (intervals)",
               "hybrid": "hybrid: backbone tail + reduction + PQC trained end to end"}
STAGE_LABELS = {"frozen": "frozen backbone → PQC head", "hybrid": "hybrid: backbone tail + reduction + PQC"}
# After a page switch the widgets start again from these: the watched job's protocol and heads.
mode = st.radio("Protocol", jobs.MODES, horizontal=True, key=f"{P}.mode", format_func=MODE_LABELS.get,
                index=jobs.MODES.index(job.mode) if job is not None else 0)
hybrid_error = ""
if mode == "hybrid":
    heads: list[str] = []
    st.markdown("The **hybrid** model trains the last backbone blocks, a linear reduction (initialised from the "
                "PCA reducer) and the PQC together, end to end. It always uses the quantum head settings below and "
                "compares itself with the frozen-backbone PQC head trained on the same speaker-disjoint split and "
                "seed (the first seed); both train for up to *Epochs (max)*. The frozen backbone front runs once "
                "per clip before training.")
    try:
        check_hybrid_config(state.get_config())
    except ConfigError as exc:
        hybrid_error = str(exc)
        st.error(hybrid_error)
        st.page_link("pages/embeddings.py", label="Change the backbone on Embeddings and PCA",
                     icon=":material/scatter_plot:")
else:
    heads = st.multiselect("Heads to compare", HEAD_KINDS, key=f"{P}.heads",
                           default=job.heads if job is not None and job.mode != "hybrid" else ["logreg", "quantum"])
cols = st.columns(4)
with cols[0]:
    widgets.bind(st.slider, "reduce", "n_qubits", "Qubits", page=P,
                 min_value=QUBIT_RANGE[0], max_value=QUBIT_RANGE[1])
    widgets.bind(st.slider, "head", "n_layers", "Layers", page=P,
                 min_value=LAYER_RANGE[0], max_value=LAYER_RANGE[1])
with cols[1]:
    widgets.bind(st.selectbox, "head", "encoding", "Encoding", page=P, options=ENCODINGS)
    widgets.bind(st.selectbox, "head", "ansatz", "Ansatz", page=P, options=ANSATZE)
    widgets.bind(st.checkbox, "head", "noise_aware", "Noise-aware PQC", page=P,
                 help="Train the PQC with gate and readout errors sampled from a fake IBM device's calibration "
                      "(head.noise_backend, × head.noise_scale; both on the Settings page)")
with cols[2]:
    widgets.bind(st.number_input, "train", "epochs", "Epochs (max)", page=P, min_value=1, max_value=1000)
    widgets.bind(st.number_input, "train", "lr", "Learning rate", page=P, min_value=1e-5, max_value=1.0,
                 step=0.005, format="%.4f")
with cols[3]:
    widgets.list_input("train", "seeds", "Seeds (comma-separated)", page=P)
    if mode == "cross-validation":
        widgets.bind(st.number_input, "data", "n_folds", "Folds", page=P, min_value=2, max_value=20)
    if mode == "hybrid":
        widgets.bind(st.number_input, "train", "trainable_blocks", "Backbone blocks trained", page=P, min_value=0,
                     max_value=16, help="The last blocks of the backbone that train end to end (0: only its head "
                     "convolution). 1–4 is plenty: more blocks keep larger activations in memory and train slower.")
config = state.get_config()

cols = st.columns([1, 1, 4])
blocked = bool(hybrid_error) if mode == "hybrid" else not heads
if cols[0].button("Train", type="primary", disabled=bool(busy) or blocked, key=f"{P}.start",
                  help=f"{busy[0].id} is training on this server: one job at a time (watch or stop it below)."
                  if busy else None):
    job = jobs.TrainingJob(config, heads, mode=mode).start()
    jobs.BOARD.add(job)
    st.session_state[state.TRAIN_JOB], st.session_state[f"{P}.watching"] = job, True
    st.rerun()  # draw the page again as it is while a job runs: Train disabled, Stop enabled, curves polling
if cols[1].button("Stop", disabled=not running, key=f"{P}.stop"):
    job.stop()
    cols[2].info("Stopping: the running head finishes its current batch and keeps its best weights.")


def runs_per_head(config) -> int:
    """Trainings each head does: folds × seeds in cross-validation, one otherwise."""
    return config.data.n_folds * len(config.train.seeds) if job.mode == "cross-validation" else 1


@st.fragment(run_every=1.0 if running else None)
def live() -> None:
    snap = job.snapshot()
    done, total, message = snap.progress
    n_runs = runs_per_head(job.config)
    fraction = widgets.job_fraction(snap, epochs=job.config.train.epochs, n_runs=n_runs) if snap.search else (
        min(done / total, 1.0) if total else 0.0)
    st.progress(1.0 if snap.finished else fraction, text=f"{snap.status} · {message} · {snap.seconds:.0f} s")
    for column, head in zip(st.columns(len(snap.heads)), snap.heads):
        with column:
            head_view(snap, head, n_runs)
    if snap.error:
        st.error(snap.error)
    for note in snap.notes:
        st.warning(note)
    if snap.finished and st.session_state.get(f"{P}.watching"):
        st.session_state[f"{P}.watching"] = False
        st.rerun(scope="app")  # stop polling and show the results
    if snap.finished and snap.mode == "hybrid":
        hybrid_results(snap)
    elif snap.finished:
        results(snap)


def head_view(snap: jobs.JobSnapshot, head: str, n_runs: int) -> None:
    """One head's column: its tuning search live (candidate k / n, epoch, best val UA, time left, the candidate's
    curve), then its outcome (the chosen candidate's curve; a one-solve head's result; STOPPED and where)."""
    st.markdown(f"**{STAGE_LABELS[head] if snap.mode == 'hybrid' else head}**")
    status = widgets.head_status(snap, head, epochs=job.config.train.epochs, n_runs=n_runs)
    if widgets.searching(snap, head):
        st.caption(status)
        rows = snap.search[head]["rows"]
        if rows and head not in widgets.ONE_SOLVE_HEADS:  # the curve of the candidate being trained
            event = snap.search[head]["event"]
            st.plotly_chart(plots.curves(rows, "loss", f"loss · {event.describe()}"), key=f"{P}.loss.{head}")
            st.plotly_chart(plots.curves(rows, "acc", "accuracy"), key=f"{P}.acc.{head}")
        return
    if not snap.logs[head]:  # no epoch yet: a note, not empty charts with meaningless axes
        if snap.finished:
            st.info("Never ran: the job " + ("failed" if snap.status == "failed" else "was stopped")
                    + " before this head's turn, so it has no curves and no results.")
        else:
            st.caption("Waiting for its turn (the heads train one after the other).")
        return
    if status.startswith("STOPPED"):
        st.warning(status)
    else:
        st.caption(status)
    if head in widgets.ONE_SOLVE_HEADS:  # one exact solve: a result, not one-point curves
        last = snap.logs[head][-1]
        cols = st.columns(2)
        cols[0].metric("validation UA", f"{last['val_ua']:.3f}" if last["val_ua"] == last["val_ua"] else "—")
        result = snap.results.get(head)
        if result is not None:
            cols[1].metric("test UA", f"{result.summary()['ua']:.3f}")
        return
    st.plotly_chart(plots.curves(snap.logs[head], "loss", "loss"), key=f"{P}.loss.{head}")
    st.plotly_chart(plots.curves(snap.logs[head], "acc", "accuracy"), key=f"{P}.acc.{head}")


def results(snap: jobs.JobSnapshot) -> None:
    st.subheader("Results on held-out speakers")
    if snap.status == "stopped":
        st.warning("Stopped: a head marked *stopped* is a partial result (scored with the best weights before Stop; "
                   "recorded as stopped, left out of the model pickers and of paired tests); heads that never ran "
                   "have no results.")
    rows = []
    for column, (head, result) in zip(st.columns(max(len(snap.results), 1)), snap.results.items()):
        summary = result.summary()
        row = {"head": head}
        for name in ("ua", "wa", "macro_f1"):
            low, high = summary.get(f"{name}_ci95", (None, None))
            row[name] = f"{summary[name]:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")
        stopped = bool(summary.get("cancelled"))
        row.update(status="stopped" if stopped else "finished", params=summary.get("params"),
                   run_id=getattr(result, "run_id", None))
        if stopped:
            row["note"] = widgets.stop_note(result)
        rows.append(row)
        with column:
            st.plotly_chart(plots.confusion(summary["confusion"], EMOTIONS,
                                            f"{head}: confusion" + (" (stopped)" if stopped else "")),
                            key=f"{P}.cm.{head}")
            if snap.mode == "quick":  # one trained model per head: downloadable, usable by `qser predict`
                widgets.model_downloads(result, name=f"{head}-{result.config.reduce.n_qubits}q", key=f"{P}.dl.{head}")
            else:
                widgets.confusion_download(summary["confusion"], EMOTIONS, name=head, key=f"{P}.dl.{head}")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{P}.table")
    st.caption("UA = unweighted accuracy (mean recall over emotions), WA = accuracy; "
               + ("[95% interval over folds × seeds]." if snap.mode == "cross-validation" else
                  "one split, no interval: use cross-validation for intervals."))
    if snap.paired:
        paired_tests(snap.paired)
    elif snap.paired_note:
        st.info(snap.paired_note.capitalize() + ".")


def paired_tests(paired: dict) -> None:
    """Each head against the quantum head on the same test clips (McNemar, paired bootstrap of UA)."""
    st.markdown("**Paired tests against the quantum head** (same test clips, same seed; positive: the quantum head "
                "scored higher, the sign sweeps use too)")
    rows = [{"head": head, "clips": t["n_clips"], "McNemar p": f"{t['mcnemar']['p_value']:.3g}",
             "UA quantum − head": f"{t['bootstrap']['diff']:+.3f}",
             "95% interval": f"[{t['bootstrap']['ci95'][0]:+.3f}, {t['bootstrap']['ci95'][1]:+.3f}]",
             "bootstrap p": f"{t['bootstrap']['p_value']:.3g}"} for head, t in paired.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{P}.paired")


def hybrid_results(snap: jobs.JobSnapshot) -> None:
    """Frozen vs hybrid on the test speakers: metrics, gain, both confusion matrices."""
    result = snap.results.get("hybrid")
    if result is None:  # stopped before the hybrid model finished an epoch (the note says so)
        return
    summary = result.summary()
    st.subheader("Results on held-out speakers")
    if result.cancelled:
        st.warning("Stopped early: the hybrid model's best weights so far were scored.")
    names = {"ua": "UA", "wa": "WA", "macro_f1": "macro-F1"}
    k = summary["trainable_blocks"]
    rows = [{"model": label, **{names[m]: f"{metrics[m]:.3f}" for m in names}, "trainable params": f"{params:,}"}
            for label, metrics, params in (
                ("frozen backbone + PQC head", result.baseline_metrics, result.baseline_params),
                (f"hybrid: last {k} block(s) + reduction + PQC", result.metrics, result.n_params))]
    rows.append({"model": "gain (hybrid − frozen)", **{names[m]: f"{v:+.3f}" for m, v in result.gain.items()},
                 "trainable params": f"{result.n_params - result.baseline_params:+,}"})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{P}.table")
    cols = st.columns(2)
    for column, stage, metrics in zip(cols, jobs.HYBRID_STAGES, (result.baseline_metrics, result.metrics)):
        column.plotly_chart(plots.confusion(metrics["confusion"], EMOTIONS, f"{stage}: confusion"),
                            key=f"{P}.cm.{stage}")
    st.caption(f"{summary['backbone']} · {summary['n_qubits']} qubits · {summary['encoding']} / "
               f"{summary['ansatz']} × {summary['n_layers']} · {result.metrics['n_test']} test clips · "
               f"hybrid {summary['epochs']} epochs (best {summary['best_epoch']}), "
               f"frozen {summary['baseline_epochs']} · {summary['seconds']:.0f} s, "
               f"of which {summary['front_seconds']:.0f} s for the frozen front · run {summary['run_id']}. "
               "UA = unweighted accuracy (mean recall over emotions), WA = accuracy; one split, no interval.")
    if summary["skipped"]:
        with st.expander(f"{len(summary['skipped'])} unusable clip(s) left out of this run"):
            st.dataframe([{"file": path, "reason": why} for path, why in summary["skipped"]], key=f"{P}.skipped")


@st.fragment(run_every=2.0 if busy else None)
def board() -> None:
    """Every job on this server (any tab's): watch one here or stop it, whichever tab started it."""
    entries = jobs.BOARD.entries()
    if not entries:
        return
    st.subheader("Jobs on this server")
    st.caption("Running and recent jobs of every tab: closing the tab that started one does not orphan it.")
    for entry in entries:
        snap = entry.job.snapshot()
        cols = st.columns([4, 3, 1, 1])
        cols[0].markdown(f"**{entry.id}** · {entry.job.mode} · {entry.job.label}"
                         + (" · *watched here*" if entry.job is job else ""))
        cols[1].caption(f"{snap.status} · started {entry.started:%H:%M:%S} UTC · {snap.seconds:.0f} s")
        if cols[2].button("Watch", key=f"{P}.watch.{entry.id}", disabled=entry.job is job):
            st.session_state[state.TRAIN_JOB], st.session_state[f"{P}.watching"] = entry.job, True
            st.rerun(scope="app")
        if cols[3].button("Stop", key=f"{P}.stop.{entry.id}", disabled=not entry.job.alive):
            entry.job.stop()
            st.rerun(scope="app")


if job is None:
    st.info("Choose a protocol and settings, then press Train. Training runs in the background: you can visit other "
            "pages and come back.")
else:
    live()
board()

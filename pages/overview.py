"""Overview: what the lab compares, the active dataset, its size, cache state and recorded runs; where to go next."""

import streamlit as st

from app_support import cache, state

#: Explicit icons: without one, Streamlit compiles its emoji regular expression to look for a leading emoji in the
#: text (0.35 s on the first alert of a server, on the first page's path).
ALERT_ICONS = {"warning": ":material/warning:", "info": ":material/info:"}
#: The hardware stage in one sentence (README step 5 says the same).
HARDWARE_STATUS = ("The trained PQC is scored in ideal simulation, under the calibrated noise of a real IBM device "
                   "(offline, fake backends) and on IBM Quantum hardware, side by side (Hardware page); grids of "
                   "configurations run as sweeps on Ray (Sweeps page).")

config = state.get_config()
st.title("QSER Lab")
st.markdown(
    "Speech emotion recognition, **classical vs quantum heads compared honestly**: every head — logistic "
    "regression, an MLP, a parameter-matched MLP and a parameterised quantum circuit (PQC) — sees the very "
    "same inputs: backbone embeddings reduced by PCA (fit on training speakers only) to as many dimensions "
    "as qubits, the same speaker-disjoint splits and the same seeds. " + HARDWARE_STATUS
)

st.subheader("Active dataset")
if config.data.dataset == "demo":
    st.warning("**Demo corpus — SYNTHETIC speech.** Generated with eSpeak NG in CREMA-D's format (12 sentences, "
               "6 emotions, synthetic speakers). Numbers measured on it say nothing about human speech. Point the "
               "sidebar at a CREMA-D folder for real results.", icon=ALERT_ICONS["warning"])
else:
    st.info(f"**{config.data.dataset}** from `{config.data.data_dir}`", icon=ALERT_ICONS["info"])

boot = cache.startup(config)


@st.fragment(run_every=1.0)
def preparing() -> None:
    """Progress of the start-up job (a fresh home synthesises the demo corpus); reruns the page when ready."""
    if boot.ready("corpus") or boot.snapshot().status == "failed":
        st.rerun(scope="app")
    done, total, message = boot.snapshot().progress
    st.progress(min(done / total, 1.0) if total else 0.0,
                text=f"Preparing the corpus: {message or 'indexing'} ({done} / {total})")


def numbers(waiting: bool, indexed=None) -> None:
    """Size, cache state and recorded runs; "…" for what the start-up job is still preparing, filled in as it
    finishes (this fragment only: the rest of the page is not drawn again), then the page once more without polling.

    On a warm restart the job indexes the corpus once the page is drawn (pandas' import and the folder, 0.45 s off
    the first page). ``indexed``: the corpus the page indexed itself (after a failed job).
    """
    corpus = indexed if indexed is not None else boot.corpus if boot.ready("corpus") else None
    runs_open = failed or boot.ready("runs")
    cols = st.columns(4)
    if corpus is None:
        for col, label in zip(cols, ("Clips", "Speakers", "Emotions", "Skipped files")):
            col.metric(label, "…", help="indexing the corpus")
    else:
        table = corpus.table
        cols[0].metric("Clips", len(table))
        cols[1].metric("Speakers", table["speaker"].nunique())
        cols[2].metric("Emotions", table["emotion"].nunique())
        cols[3].metric("Skipped files", len(corpus.report.skipped))
    cols = st.columns(2)
    label = f"Cached embeddings ({config.embedding.backbone})"
    if corpus is None:
        cols[0].metric(label, "…", help="indexing the corpus")
    else:
        status = cache.cache_status(config, corpus)
        cols[0].metric(label, f"{status.get('cached', 0)} / {status.get('total', len(corpus.table))}")
    if runs_open:
        cols[1].metric("Recorded runs", len(cache.runs()))
    else:  # the run store opens in the background (MLflow's import alone takes seconds)
        cols[1].metric("Recorded runs", "…", help="opening the run store")
    if waiting and ((corpus is not None and runs_open) or boot.snapshot().status == "failed"):
        st.rerun(scope="app")  # all there (or the job failed: the page indexes and says why): no more polling


failed = boot.snapshot().status == "failed"
if not (failed or cache.corpus_on_disk(config) or boot.ready("corpus", wait=1.0)):  # fresh home: synthesising
    preparing()
else:
    # A failed start-up job is not shown as such: the page indexes the corpus itself (here, not in the fragment, so
    # app.py's boundary shows a QserError), and the folder's own message, or once fixed its numbers, appear instead.
    indexed = cache.corpus(config) if failed else None
    waiting = not (failed or (boot.ready("corpus") and boot.ready("runs")))
    st.fragment(numbers, run_every=1.0 if waiting else None)(waiting, indexed)
st.caption(f"Caches, the demo corpus and run records live in `{state.remembered_path().parent}`.")

st.subheader("Where to go next")
st.page_link("pages/data.py", label="Listen to clips and look at spectrograms", icon=":material/graphic_eq:")
st.page_link("pages/embeddings.py", label="Extract embeddings and choose the number of qubits",
             icon=":material/scatter_plot:")
st.page_link("pages/train.py", label="Train classical and quantum heads side by side", icon=":material/model_training:")
st.page_link("pages/live.py", label="Predict the emotion of your own voice", icon=":material/mic:")
st.page_link("pages/settings.py", label="Every setting, with its meaning and unit", icon=":material/tune:")

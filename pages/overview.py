"""Overview: what the lab compares, the active dataset, its size, cache state and recorded runs."""

import streamlit as st

from app_support import cache, state, widgets

P = "overview"
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


@st.fragment(run_every=1.0)
def opening_store() -> None:
    """The runs metric while the start-up job opens the run store, filled in once it is open (this fragment only:
    the rest of the page is not drawn again)."""
    if boot.ready("runs"):
        st.metric("Recorded runs", len(cache.runs()))
    else:
        st.metric("Recorded runs", "…", help="opening the run store")


# A failed start-up job is not shown as such: the page indexes the corpus itself, so its own message (and, once the
# folder is fixed, its numbers) appear, instead of the start-up job's stale error.
failed = boot.snapshot().status == "failed"
if not (failed or cache.corpus_on_disk(config) or boot.ready("corpus", wait=1.0)):  # fresh home: synthesising
    preparing()
else:
    corpus = cache.corpus(config)
    table = corpus.table
    cols = st.columns(4)
    cols[0].metric("Clips", len(table))
    cols[1].metric("Speakers", table["speaker"].nunique())
    cols[2].metric("Emotions", table["emotion"].nunique())
    cols[3].metric("Skipped files", len(corpus.report.skipped))
    status = cache.cache_status(config)
    cached, total = status.get("cached", 0), status.get("total", len(table))
    cols = st.columns(2)
    cols[0].metric(f"Cached embeddings ({config.embedding.backbone})", f"{cached} / {total}")
    with cols[1]:
        if failed or boot.ready("runs"):
            st.metric("Recorded runs", len(cache.runs()))
        else:  # the run store opens in the background (MLflow's import alone takes seconds)
            opening_store()
st.caption(f"Caches, the demo corpus and run records live in `{state.remembered_path().parent}`.")

st.subheader("Where to go next")
st.page_link("pages/data.py", label="Listen to clips and look at spectrograms", icon=":material/graphic_eq:")
st.page_link("pages/embeddings.py", label="Extract embeddings and choose the number of qubits",
             icon=":material/scatter_plot:")
st.page_link("pages/train.py", label="Train classical and quantum heads side by side", icon=":material/model_training:")
st.page_link("pages/live.py", label="Predict the emotion of your own voice", icon=":material/mic:")

st.subheader("All settings")
st.caption("Every field of the experiment's configuration (`qser --set section.field=value` reaches the same ones); "
           "hover the ? beside a field for its meaning and unit. Pages show the main ones; the dataset is chosen in "
           "the sidebar.")
widgets.settings_editor(page=P)

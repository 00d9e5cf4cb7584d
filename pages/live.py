"""Live demo: record or upload a clip; the chosen models (default, trained, recorded or saved) predict its emotion."""

import streamlit as st

from app_support import cache, microphone, plots, state, widgets
from app_support.catalogue import recorded_models
from qser_core.experiments.models.trained import predict_timed

P = "live"
ORDER = f"{P}.order"  # input sources, the most recently changed last: the newest input wins
SOURCES = {"record": "your browser recording", "upload": "the uploaded file", "server": "the server recording"}
st.title("Live demo")
config = state.get_config()
a = config.audio


def newest(source: str) -> None:
    """on_change of an input: it becomes the clip the page analyses."""
    order = [s for s in st.session_state.get(ORDER, []) if s != source]
    st.session_state[ORDER] = [*order, source]


# ------------------------------------------------------------------ which models
job = st.session_state.get(state.TRAIN_JOB)
trained = job.snapshot().results if job is not None and job.mode == "quick" and not job.alive else {}
CHOICES = {"default": "small default models (logreg + quantum, trained once on the active corpus)",
           "recorded": "recorded training runs (any session, `qser train` included)",
           "folder": "a saved model folder (`qser train --out DIR`)"}
if trained:
    CHOICES = {"train": "the models trained on the Train page", **CHOICES}
choice = st.selectbox("Models", list(CHOICES), format_func=CHOICES.get, key=f"{P}.models")
runs: list[str] = []
if choice == "recorded":
    labels = recorded_models(include_stopped=widgets.stopped_toggle(page=P))
    runs = st.multiselect("Recorded models", list(labels), format_func=labels.get, default=list(labels)[:2],
                          key=f"{P}.runs", help="Runs that trained one model and finished (and, when included, runs "
                          "stopped by the user, labelled STOPPED); newest first.")
    if not labels:
        st.info("No recorded training run yet: train a model on the Train page (quick protocol) or with `qser train`.")
elif choice == "folder":
    folder = st.text_input("Model folder", key=f"{P}.folder", placeholder="models/q8",
                           help="A folder written by `qser train --out DIR` (config.toml + the model files). "
                                "Load only models you trust.")

# ------------------------------------------------------------------ which clip
record_tab, upload_tab, server_tab = st.tabs(["Record in the browser", "Upload a file", "Server microphone"])
recorded = record_tab.audio_input("Record a sentence (about 2–3 s)", sample_rate=a.sr, key=f"{P}.record",
                                  on_change=newest, args=("record",))
uploaded = upload_tab.file_uploader("Audio file", type=["wav", "flac", "mp3", "ogg"], key=f"{P}.upload",
                                    on_change=newest, args=("upload",))
with server_tab:
    available, note = microphone.server_microphone()
    st.caption(note)
    if available and st.button("Record 3 s on the server", key=f"{P}.server"):
        st.session_state[f"{P}.server_clip"] = microphone.record(a.duration, sr=a.sr)
        newest("server")

present = {"record": recorded, "upload": uploaded, "server": st.session_state.get(f"{P}.server_clip")}
order = [s for s in st.session_state.get(ORDER, []) if present[s] is not None]
order += [s for s in SOURCES if present[s] is not None and s not in order]  # inputs set without a change event
if not order:
    st.info("Record a clip with the microphone button, or upload one.")
    st.stop()
source = order[-1]
name = present[source].name if source == "upload" else ""
if source == "server":
    y = present["server"]
else:
    y = cache.decode(present[source].getvalue(), a.sr, a.duration, a.top_db, name or "the browser recording")


def fitted_to_length(data: bytes) -> tuple[float, list[tuple[float, float]]]:
    """The clip's length after trimming silence (s) and the padding added to reach ``audio.duration``
    (``(start, end)`` seconds on the fixed-length clip), as :func:`qser_core.data.audio.fix_length` does it."""
    from qser_core.data.audio import read_audio, trim_silence

    raw, _ = read_audio(data, sr=a.sr)
    n, target = len(trim_silence(raw, top_db=a.top_db)[0]), int(round(a.sr * a.duration))
    if n >= target:
        return n / a.sr, []
    offset = (target - n) // 2
    return n / a.sr, [(0.0, offset / a.sr), ((offset + n) / a.sr, target / a.sr)]


padding: list[tuple[float, float]] = []
if source != "server":
    seconds_in, padding = fitted_to_length(present[source].getvalue())
    if seconds_in > a.duration + 0.05:
        cut = seconds_in - a.duration
        st.warning(f"The clip is {seconds_in:.1f} s long after trimming silence; the models take "
                   f"{a.duration:g} s (`audio.duration`), so only its middle {a.duration:g} s is analysed "
                   f"({cut / 2:.1f} s cut at each end).")
    elif padding:
        st.caption(f"The clip is {seconds_in:.1f} s long after trimming silence; silence was added on both sides to "
                   f"reach the models' {a.duration:g} s (shaded *padding* below).")
others = [SOURCES[s] for s in order[:-1]]
st.success(f"Analysing **{SOURCES[source]}**" + (f" ({name})" if name else "")
           + (f"; the newest input wins, so {' and '.join(others)} is not used." if others else "."))

f = config.features
cols = st.columns(2)
cols[0].plotly_chart(plots.shade_padding(plots.waveform(y, a.sr, title="Clip (trimmed, fixed length)"), padding),
                     key=f"{P}.wave")
S = cache.log_mel(y, a.sr, f.n_fft, f.hop_length, f.n_mels, f.fmin, f.fmax)
cols[1].plotly_chart(plots.shade_padding(plots.log_mel(S, sr=a.sr, hop_length=f.hop_length, fmin=f.fmin,
                                                       fmax=f.fmax), padding), key=f"{P}.mel", theme=None)


# ------------------------------------------------------------------ the models
@st.fragment(run_every=1.0)
def default_models_progress(demo) -> None:
    """Progress of the background job training the default models; reruns the page once they are ready."""
    snap = demo.snapshot()
    if snap.finished:
        st.rerun(scope="app")
    widgets.job_progress(snap, "Training the small default models (once per corpus and settings, shared by every "
                         "tab)", epochs=demo.config.train.epochs)


if choice == "train":
    classical = next((k for k in trained if k != "quantum"), None)
    models = {k: trained[k] for k in (classical, "quantum") if k in trained}
elif choice == "recorded":
    models = {labels[run_id]: cache.recorded_model(run_id) for run_id in runs}
elif choice == "folder":
    models = {folder.strip(): cache.saved_model(folder.strip())} if folder.strip() else {}
else:
    demo = cache.demo_job(config)
    snap = demo.snapshot()
    if snap.error:
        st.error(snap.error)
        st.stop()
    if not snap.finished:
        default_models_progress(demo)
        st.stop()
    models = snap.results
if not models:
    st.info("Choose at least one model above.")
    st.stop()

first = next(iter(models.values())).config
net = cache.backbone(first)
st.caption(f"Pipeline: clip → {net.name} ({net.dim}-dim embedding) → PCA to {first.reduce.n_qubits} angles → head."
           + (" Models trained on the SYNTHETIC demo corpus: expect guesses, not emotion recognition."
              if first.data.dataset == "demo" else ""))
probabilities, seconds = predict_timed(models, y)  # not cached: the timing is part of the demo
for column, (kind, model) in zip(st.columns(min(len(models), 3)) * len(models), models.items()):
    proba = probabilities[kind]
    best = max(proba, key=proba.get)
    head = model.config.head.kind
    with column:
        total_ms, head_ms = (seconds["embed"] + seconds[kind]) * 1000, seconds[kind] * 1000
        suffix = "" if kind == head else f" ({kind})"
        st.markdown(f"**{head}** head{suffix}: **{best}** ({proba[best]:.0%}) · prediction took {total_ms:.0f} ms "
                    f"({seconds['embed'] * 1000:.0f} ms shared embedding + {head_ms:.1f} ms head)")
        st.plotly_chart(plots.probabilities(proba, f"{kind} ({model.metrics.get('params', '?')} parameters)"),
                        key=f"{P}.proba.{kind}")
with st.expander("Download the models and their test confusion matrices"):
    for kind, model in models.items():  # apart from the predictions: they are about the models, not this clip
        head = model.config.head.kind
        st.markdown(f"**{kind}**")
        widgets.model_downloads(model, name=f"{head}-{model.config.reduce.n_qubits}q", key=f"{P}.download.{kind}")

"""Live demo: record or upload a clip; a classical and a quantum head predict its emotion side by side."""

import streamlit as st

from app_support import cache, microphone, plots, state
from qser_core.experiments.model import predict_timed

P = "live"
st.title("Live demo")
config = state.get_config()
a = config.audio

job = st.session_state.get(state.TRAIN_JOB)
trained = job.snapshot().results if job is not None and job.mode == "quick" and not job.alive else {}
sources = ["default"] + (["train"] if "quantum" in trained and len(trained) > 1 else [])
source = st.radio("Models", sources, horizontal=True, key=f"{P}.source", format_func=lambda s: {
    "default": "small default models (trained once on the active corpus)",
    "train": "the models trained on the Train page"}[s])

record_tab, upload_tab, server_tab = st.tabs(["Record in the browser", "Upload a file", "Server microphone"])
recorded = record_tab.audio_input("Record a sentence (about 2–3 s)", sample_rate=a.sr, key=f"{P}.record")
uploaded = upload_tab.file_uploader("Audio file", type=["wav", "flac", "mp3", "ogg"], key=f"{P}.upload")
with server_tab:
    available, note = microphone.server_microphone()
    st.caption(note)
    if available and st.button("Record 3 s on the server", key=f"{P}.server"):
        st.session_state[f"{P}.server_clip"] = microphone.record(a.duration, sr=a.sr)

if recorded is not None:
    y = cache.decode(recorded.getvalue(), a.sr, a.duration, a.top_db)
elif uploaded is not None:
    y = cache.decode(uploaded.getvalue(), a.sr, a.duration, a.top_db)
elif f"{P}.server_clip" in st.session_state:
    y = st.session_state[f"{P}.server_clip"]
else:
    st.info("Record a clip with the microphone button, or upload one.")
    st.stop()

f = config.features
cols = st.columns(2)
cols[0].plotly_chart(plots.waveform(y, a.sr, title="Clip (trimmed, fixed length)"), key=f"{P}.wave")
S = cache.log_mel(y, a.sr, f.n_fft, f.hop_length, f.n_mels, f.fmin, f.fmax)
cols[1].plotly_chart(plots.log_mel(S, sr=a.sr, hop_length=f.hop_length, fmin=f.fmin, fmax=f.fmax), key=f"{P}.mel",
                     theme=None)

if source == "train":
    classical = next(k for k in trained if k != "quantum")
    models = {classical: trained[classical], "quantum": trained["quantum"]}
else:
    models = cache.demo_models(config)
net = cache.backbone(config)
st.caption(f"Pipeline: clip → {net.name} ({net.dim}-dim embedding) → PCA to {config.reduce.n_qubits} angles → head."
           + (" Models trained on the SYNTHETIC demo corpus: expect guesses, not emotion recognition."
              if config.data.dataset == "demo" else ""))
probabilities, seconds = predict_timed(models, y)  # not cached: the timing is part of the demo
for column, (kind, model) in zip(st.columns(2), models.items()):
    proba = probabilities[kind]
    best = max(proba, key=proba.get)
    with column:
        total_ms, head_ms = (seconds["embed"] + seconds[kind]) * 1000, seconds[kind] * 1000
        st.markdown(f"**{kind}** head: **{best}** ({proba[best]:.0%}) · prediction took {total_ms:.0f} ms "
                    f"({seconds['embed'] * 1000:.0f} ms shared embedding + {head_ms:.1f} ms head)")
        st.plotly_chart(plots.probabilities(proba, f"{kind} ({model.metrics.get('params', '?')} parameters)"),
                        key=f"{P}.proba.{kind}")

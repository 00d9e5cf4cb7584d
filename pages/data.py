"""Data and spectrograms: counts, the index report, clip browser with audio, waveform and log-mel."""

from pathlib import Path

import streamlit as st

from app_support import cache, plots, state
from qser_core.config import max_mel_bands

P = "data"  # page prefix of the session keys
config = state.get_config()
st.title("Data and spectrograms")
corpus = cache.corpus(config)
table = corpus.table
if config.data.dataset == "demo":
    st.caption("Demo corpus: SYNTHETIC eSpeak NG speech in CREMA-D format.")

cols = st.columns(3)
cols[0].plotly_chart(plots.counts(table, "emotion", "Clips per emotion", color="emotion"), key=f"{P}.c_emotion")
cols[1].plotly_chart(plots.counts(table, "speaker", "Clips per actor"), key=f"{P}.c_speaker")
cols[2].plotly_chart(plots.counts(table, "sex", "Clips per sex"), key=f"{P}.c_sex")
with st.expander(f"Index report: {corpus.report.n_files} files, {len(corpus.report.skipped)} skipped"):
    st.text(corpus.report.summary())
    if corpus.report.skipped:
        st.dataframe([{"file": p, "reason": r} for p, r in corpus.report.skipped], key=f"{P}.skipped")

st.subheader("Listen to a clip")
cols = st.columns(4)
actor = cols[0].selectbox("Actor", sorted(table["speaker"].unique()), key=f"{P}.actor")
by_actor = table[table["speaker"] == actor]
sentence = cols[1].selectbox("Sentence", sorted(by_actor["sentence"].unique()), key=f"{P}.sentence")
rows = by_actor[by_actor["sentence"] == sentence]
emotion = cols[2].selectbox("Emotion", sorted(rows["emotion"].unique()), key=f"{P}.emotion")
choices = rows[rows["emotion"] == emotion]["path"].tolist()
path = cols[3].selectbox("Clip", choices, format_func=lambda p: Path(p).name, key=f"{P}.clip")

with st.expander("Mel settings", expanded=False):
    f = config.features
    c = st.columns(5)
    # n_mels stops where a mel band would hold no FFT bin at the n_fft chosen on its right (config refuses it)
    most = max_mel_bands(sr=config.audio.sr, n_fft=st.session_state.get(f"{P}.n_fft", f.n_fft),
                         fmin=st.session_state.get(f"{P}.fmin", f.fmin), fmax=st.session_state.get(f"{P}.fmax", f.fmax))
    top = max(16, min(128, most // 8 * 8))
    if st.session_state.get(f"{P}.n_mels", f.n_mels) > top:
        st.session_state[f"{P}.n_mels"] = top
    n_mels = c[0].slider("n_mels", 16, top, min(f.n_mels, top), step=8, key=f"{P}.n_mels",
                         help=f"Mel bands; at most {top} here, so that every band holds an FFT bin of the n_fft "
                              "chosen on the right (more bands than that would be constant rows).")
    n_fft = c[1].select_slider("n_fft", [256, 512, 1024, 2048], value=f.n_fft, key=f"{P}.n_fft")
    hops = [h for h in sorted({80, 160, 256, 320, 512, f.hop_length}) if h <= n_fft]
    if st.session_state.get(f"{P}.hop") not in hops:  # first visit, or n_fft just went below the chosen hop
        st.session_state[f"{P}.hop"] = min(st.session_state.get(f"{P}.hop", f.hop_length), hops[-1])
    hop = c[2].select_slider("hop_length", hops, key=f"{P}.hop", help="Samples between frames; at most n_fft "
                             "(frames must overlap or touch), so the choices stop at the n_fft chosen on the left.")
    fmin = c[3].number_input("fmin (Hz)", 0.0, 2000.0, f.fmin, step=10.0, key=f"{P}.fmin")
    fmax = c[4].number_input("fmax (Hz)", 1000.0, config.audio.sr / 2, min(f.fmax, config.audio.sr / 2),
                             step=100.0, key=f"{P}.fmax")
    if st.button("Use these settings for embeddings", key=f"{P}.apply"):
        state.set_config(config.replace("features", n_mels=n_mels, n_fft=n_fft, hop_length=hop,
                                        fmin=fmin, fmax=fmax))
        st.success("Saved to the configuration (embeddings will be re-extracted with them).")
mel = dict(n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmin=fmin, fmax=fmax)
sr = config.audio.sr

y = cache.clip(path, sr)
st.audio(path)
cols = st.columns(2)
cols[0].plotly_chart(plots.waveform(y, sr), key=f"{P}.wave")
S = cache.log_mel(y, sr, **mel)
cols[1].plotly_chart(plots.log_mel(S, sr=sr, hop_length=mel["hop_length"], fmin=fmin, fmax=fmax), key=f"{P}.mel",
                     theme=None)

st.subheader(f"Actor {actor}, sentence {sentence}: all emotions side by side")
groups = list(rows.groupby("emotion", sort=True))
six = {emo: cache.log_mel(cache.clip(group["path"].iloc[0], sr), sr, **mel) for emo, group in groups}
peak = plots.shared_peak(six.values())  # one dB scale: the same colour is the same level in every chart
st.caption(f"One colour scale for all {len(six)}: {peak - 80:.0f} dB (dark) to {peak:.0f} dB (bright), "
           "the loudest of these clips; the same colour means the same level in every chart.")
cols = st.columns(3)
for i, (emo, group) in enumerate(groups):
    with cols[i % 3]:
        st.plotly_chart(plots.log_mel(six[emo], sr=sr, hop_length=mel["hop_length"], fmin=fmin, fmax=fmax, title=emo,
                                      height=220, colorbar=False, peak=peak), key=f"{P}.six.{emo}",
                        theme=None)
        st.audio(group["path"].iloc[0])

"""Embeddings and PCA: pick a backbone, extract (with progress), choose k qubits, look at the PCA space."""

import streamlit as st

from app_support import cache, plots, state, widgets
from qser_core.config import BACKBONES, QUBIT_RANGE

P = "embeddings"
st.title("Embeddings and PCA")
st.markdown("A frozen pre-trained backbone turns each clip into an embedding; PCA, fit on the **training "
            "speakers only**, reduces it to as many dimensions as the quantum head has qubits.")

cols = st.columns(2)
with cols[0]:
    widgets.bind(st.selectbox, "embedding", "backbone", "Backbone", page=P, options=BACKBONES)
with cols[1]:
    widgets.bind(st.slider, "reduce", "n_qubits", "Qubits k (PCA components)", page=P,
                 min_value=QUBIT_RANGE[0], max_value=QUBIT_RANGE[1])
config = state.get_config()

status = cache.cache_status(config)
cached, total = status.get("cached", 0), status.get("total", 0)
st.caption(f"Embedding cache for {config.embedding.backbone}: {cached} of {total} clips.")
if cached < total:
    if not st.button(f"Extract embeddings ({total - cached} clips)", type="primary", key=f"{P}.extract"):
        st.info("Embeddings are computed once per backbone and front-end settings, then read from the disk cache.")
        st.stop()
    progress, bar = widgets.progress_bar("Extracting embeddings")
    cache.features(config, progress=progress)
    st.rerun()  # the cache count, the button and the PCA view above are read again, now complete

view = cache.pca_view(config)
st.caption(f"{view['dim']}-dimensional embeddings → {config.reduce.n_qubits} components; "
           f"PCA fit on {view['n_train']} training clips. "
           f"Kept variance: {view['cumulative'][-1]:.1%}.")
st.plotly_chart(plots.explained_variance(view["ratio"], view["cumulative"]), key=f"{P}.evr")
cols = st.columns(2)
with cols[0]:
    three_d = st.toggle("3-D", value=False, key=f"{P}.three_d", disabled=config.reduce.n_qubits < 3)
    st.plotly_chart(plots.scatter(view, three_d=three_d), key=f"{P}.scatter")
with cols[1]:
    st.plotly_chart(plots.angles(view["angles"], view["part"]), key=f"{P}.angles")
    st.caption(f"What the circuit receives: each PCA score mapped to a rotation angle in [0, π] by its mean ± 3 "
               f"standard deviations over the training clips (mean → π/2, ±3σ → 0 and π); scores beyond ±3σ, "
               f"in any split, are clipped to 0 or π ({view['clipped']:.1%} of the validation and test angles).")

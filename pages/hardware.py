"""Hardware: IBM Quantum and noisy simulators (coming in a later issue)."""

import streamlit as st

st.title("Hardware")
st.info("Running the quantum head on IBM Quantum hardware and on noisy simulators built from device "
        "calibrations is coming in a later issue. Meanwhile the Circuit page shows the transpiled circuit "
        "for a chosen IBM device.")

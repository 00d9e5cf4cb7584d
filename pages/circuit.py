"""Circuit: the PQC of the current settings, its size, and the transpiled circuit for an IBM device."""

import dataclasses

import streamlit as st

from app_support import cache, state, widgets
from qser_core.config import ANSATZE, ENCODINGS, LAYER_RANGE, QUBIT_RANGE
from qser_core.hardware.backends import AUTO, DEFAULT_FAKE, FAKE_BACKENDS, RETIRED
from qser_core.heads.circuits import CircuitSpec

P = "circuit"
st.title("Circuit")
cols = st.columns(4)
with cols[0]:
    widgets.bind(st.slider, "reduce", "n_qubits", "Qubits", page=P,
                 min_value=QUBIT_RANGE[0], max_value=QUBIT_RANGE[1])
with cols[1]:
    widgets.bind(st.selectbox, "head", "encoding", "Encoding", page=P, options=ENCODINGS)
with cols[2]:
    widgets.bind(st.selectbox, "head", "ansatz", "Ansatz", page=P, options=ANSATZE)
with cols[3]:
    widgets.bind(st.slider, "head", "n_layers", "Layers", page=P,
                 min_value=LAYER_RANGE[0], max_value=LAYER_RANGE[1])
config = state.get_config()
spec = CircuitSpec.from_config(config)

stats = cache.circuit_stats(spec)
cols = st.columns(4)
cols[0].metric("Trainable parameters", stats["params"], help="Circuit weights plus the linear readout from the "
               "qubits' ⟨Z⟩ values to the emotions.")
cols[1].metric("Circuit weights", stats["circuit_params"], help="Rotation angles the ansatz learns.")
cols[2].metric("Depth", stats["depth"])
cols[3].metric("Two-qubit gates", stats["two_qubit_gates"])
st.caption("Gates: " + ", ".join(f"{name} × {n}" for name, n in stats["gate_types"].items())
           + ". Angles shown are placeholders; the inputs are the PCA angles of a clip.")

text_tab, figure_tab = st.tabs(["Text (qml.draw)", "Figure (qml.draw_mpl)"])
text_tab.code(cache.circuit_text(spec), language=None)
with figure_tab:
    # A figure stays readable up to ~32 qubit-layers; beyond that only the first layers are drawn (they repeat).
    shown = min(spec.n_layers, max(1, 32 // spec.n_qubits))
    if shown < spec.n_layers:
        st.caption(f"First {shown} of {spec.n_layers} layers drawn, to stay readable: every layer repeats the "
                   "same gates with its own weights (the text tab has them all).")
    st.image(cache.circuit_png(dataclasses.replace(spec, n_layers=shown)))

st.subheader("Transpiled for an IBM device (offline fake backend, real calibrations)")
cols = st.columns(2)
with cols[0]:
    widgets.bind(st.selectbox, "hardware", "backend", "Device", page=P, options=list(FAKE_BACKENDS),
                 from_config=lambda b: DEFAULT_FAKE if b in AUTO or b not in FAKE_BACKENDS else b,
                 format_func=lambda b: f"{b} (retired Eagle device's noise)" if b in RETIRED else b,
                 help="Devices with an offline fake backend here; the Hardware page lists an account's devices.")
with cols[1]:
    widgets.bind(st.select_slider, "hardware", "optimization_level", "Optimisation level", page=P,
                 options=[0, 1, 2, 3])
config = state.get_config()
device = DEFAULT_FAKE if config.hardware.backend in AUTO else config.hardware.backend
if device not in FAKE_BACKENDS:
    st.info(f"{device} has no offline fake backend; pick one of the devices above.")
    st.stop()
result = cache.transpiled(spec, device, config.hardware.optimization_level)
logical, native = result["logical"], result["transpiled"]
cols = st.columns(4)
cols[0].metric("Depth", native["depth"], native["depth"] - logical["depth"], delta_color="inverse")
cols[1].metric("Two-qubit gates", native["two_qubit_gates"],
               native["two_qubit_gates"] - logical["two_qubit_gates"], delta_color="inverse",
               help=result["seed_search"])
cols[2].metric("Two-qubit depth", native["two_qubit_depth"])
cols[3].metric("Physical qubits used", native["active_qubits"])
st.caption("Native gate counts: " + ", ".join(f"{k} × {v}" for k, v in native["ops"].items())
           + f" (deltas against the logical circuit). Two-qubit gates: {result['seed_search']}, the same "
           "export and seed search as a hardware run, so the Hardware page shows the same count for this head.")
with st.expander("Transpiled circuit"):
    st.code(result["text"], language=None)
with st.expander("OpenQASM 3 (logical circuit, inputs as parameters)"):
    st.code(result["qasm"], language=None)

"""Hardware: a trained quantum head in ideal simulation, under a real device's noise (offline) and on IBM Quantum."""

import plotly.graph_objects as go
import streamlit as st

from app_support import cache, plots, state, widgets
from qser_core.data.corpus import EMOTIONS
from qser_core.hardware.backends import FAKE_BACKENDS, account_configured
from qser_core.hardware.circuit import TRANSPILE_TRIALS
from qser_core.hardware.compare import per_clip_frame
from qser_core.hardware.execute import PRIMITIVES
from qser_core.hardware.readout import READOUT_METHODS

P = "hardware"
st.title("Hardware")

# ---------------------------------------------------------------- model and settings
source = widgets.model_picker(page=P, head="quantum")
if source is None:
    st.info("Pick a trained quantum model to run. Offline, the page simulates IBM devices from their calibration "
            "snapshots (fake backends); no IBM Quantum account is needed.")
    st.stop()
config = state.get_config()
cols = st.columns(4)
backend = cols[0].selectbox("Device", list(FAKE_BACKENDS), key=f"{P}.backend",
                            index=list(FAKE_BACKENDS).index(config.hardware.backend)
                            if config.hardware.backend in FAKE_BACKENDS else 0)
shots = cols[1].select_slider("Shots", [64, 128, 256, 512, 1024, 2048, 4096, 8192], value=1024, key=f"{P}.shots")
noise_scale = cols[2].select_slider("Noise scale λ", [0.0, 0.25, 0.5, 1.0, 2.0], value=1.0, key=f"{P}.lambda")
level = cols[3].select_slider("Optimisation level", [0, 1, 2, 3], value=config.hardware.optimization_level,
                              key=f"{P}.opt")
cols = st.columns(4)
primitive = cols[0].selectbox("Primitive", PRIMITIVES, key=f"{P}.primitive",
                              help="estimator: EstimatorV2, one ⟨Z⟩ observable per qubit; sampler: SamplerV2, "
                                   "⟨Z⟩ from the bit strings.")
readout = cols[1].selectbox("Readout mitigation (sampler)", READOUT_METHODS, key=f"{P}.readout",
                            disabled=primitive != "sampler",
                            help="mthree: M3 calibrates the measured qubits on the device (or its noisy "
                                 "simulator) and corrects every clip's counts; offline and on IBM Quantum.")
readout = readout if primitive == "sampler" else "none"
resilience = cols[2].selectbox("Resilience level (hardware)", [0, 1, 2], index=1, key=f"{P}.resilience",
                               disabled=primitive != "estimator",
                               help="1: measurement twirling + TREX; 2: adds gate twirling + ZNE. "
                                    "Recorded offline, applied on IBM Quantum only (Estimator).")
dd = cols[3].toggle("Dynamical decoupling (hardware)", key=f"{P}.dd")
cols = st.columns(4)
n_clips = cols[0].number_input("Test clips (0 = all)", min_value=0, value=0, step=10, key=f"{P}.clips")
recalibrate = cols[1].number_input("Recalibration clips", min_value=0, value=0, step=10, key=f"{P}.recal")
trials = cols[2].number_input("Transpiler seeds tried", min_value=1, max_value=64, value=TRANSPILE_TRIALS,
                              key=f"{P}.trials", help="the circuit with the fewest two-qubit gates is kept")

run, device = cache.hardware_plan(source, backend, shots, noise_scale, resilience, dd, n_clips or None, recalibrate,
                                  level, primitive, readout, int(trials))
stats, estimate = run.isa.stats, run.estimate
cols = st.columns(4)
cols[0].metric("Transpiled depth", stats["depth"])
cols[1].metric("Two-qubit gates", stats["two_qubit_gates"], help=f"fewest of {stats.get('trials', 1)} transpiler seeds "
               f"(kept: seed {stats.get('seed', 0)})")
cols[2].metric("Clips in the job", len(run.angles))
cols[3].metric("QPU time estimate", f"{estimate['quantum_seconds']:.1f} s",
               f"{100 * estimate['open_plan_fraction']:.1f}% of 10 min", delta_color="off")
st.caption(f"Layout (physical qubit of each circuit qubit): {stats['layout']}. Estimate: {estimate['formula']}.")
with st.expander("Transpiled circuit"):
    st.code(str(run.isa.circuit.draw(output="text", idle_wires=False, fold=140)), language=None)

# ---------------------------------------------------------------- dispatch
use_ibm = st.toggle("Send to IBM Quantum (otherwise: simulate offline with the device's noise)", key=f"{P}.ibm")
if use_ibm:
    key = st.text_input("IBM Quantum API key (kept in this browser session's memory only)", type="password",
                        key=f"{P}.key")
    if not (key or account_configured()):
        st.warning("No IBM Quantum account is configured: type a key, set QISKIT_IBM_TOKEN, or simulate offline.")
confirmed = st.checkbox(f"Send {len(run.angles)} clips × {shots} shots as one job "
                        f"(≈ {estimate['quantum_seconds']:.1f} QPU s)", key=f"{P}.confirm")
if st.button("Dispatch", type="primary", disabled=not confirmed, key=f"{P}.dispatch"):
    from qser_core.hardware.backends import connect
    from qser_core.hardware.run import dispatch, plan

    model = cache.picked_model(source)
    if use_ibm:  # the service lives in session memory: a key never enters a cache
        service = connect(token=st.session_state.get(f"{P}.key") or None)
        ibm_run, ibm_device = plan(model, backend=backend, fake=False, service=service, shots=shots,
                                   mitigation=run.mitigation, primitive=primitive, n_clips=n_clips or None,
                                   recalibrate=recalibrate,
                                   optimization_level=level, transpile_trials=int(trials),
                                   model_path=run.model_info["path"])
        out = dispatch(model, ibm_run, ibm_device, wait_result=False)
    else:
        with st.spinner("Running one job on the simulated device…"):
            out = dispatch(model, run, device)
    st.session_state[f"{P}.job"] = out.get("job_id") or out["job_ids"][0]
    cache.hardware_jobs.clear()

# ---------------------------------------------------------------- jobs
st.subheader("Jobs")
if st.button("Refresh status from IBM Quantum", key=f"{P}.refresh"):
    from qser_core.hardware.run import job_list

    job_list(refresh=True)
    cache.hardware_jobs.clear()
jobs = cache.hardware_jobs()
if not jobs:
    st.caption("No recorded jobs yet.")
    st.stop()
st.dataframe(jobs, hide_index=True, key=f"{P}.jobs")
ids = [j["job_id"] for j in jobs]
current = st.session_state.get(f"{P}.job")
job_id = st.selectbox("Show job", ids, index=ids.index(current) if current in ids else 0, key=f"{P}.show")
row = jobs[ids.index(job_id)]
if row["status"] in ("ERROR", "CANCELLED"):
    st.error(f"Job {job_id} ended {row['status']}: {row['reason']}")
    st.stop()
if row["status"] != "DONE":
    if st.button("Fetch result", key=f"{P}.fetch"):
        from qser_core.hardware.run import fetch

        fetch(job_id)
        cache.hardware_jobs.clear()
        st.rerun()
    st.info(f"Job {job_id} is {row['status']}; fetch it when it is done (nothing is lost if you close the page).")
    st.stop()

# ---------------------------------------------------------------- results
result = cache.hardware_result(job_id)
device_target = result["device_target"]
targets = [t for t in ("ideal", device_target, "recalibrated") if t in result]
bars = go.Figure()
for metric in ("ua", "wa", "macro_f1"):
    values = [result[t][metric] for t in targets]
    low = [result[t][metric] - result[t][f"{metric}_ci95"][0] for t in targets]
    high = [result[t][f"{metric}_ci95"][1] - result[t][metric] for t in targets]
    bars.add_bar(name=metric, x=[f"{t} ({result[t]['jobs']} jobs)" for t in targets], y=values,
                 error_y={"type": "data", "symmetric": False, "array": high, "arrayminus": low})
bars.update_layout(barmode="group", title="Scores with 95% bootstrap intervals", height=360)
st.plotly_chart(bars, key=f"{P}.bars")
mitigation = result.get("mitigation", {})
st.caption(f"{result.get('primitive', 'estimator')} · {result.get('shots')} shots · readout mitigation "
           f"{mitigation.get('readout', 'none')}"
           + (f" (M3, {mitigation['readout_calibration']['method']} calibration)"
              if mitigation.get("readout_calibration") else "")
           + f" · resilience level {mitigation.get('resilience_level', '?')} "
           + ("(applied on IBM Quantum)" if mitigation.get("applied") else "(recorded; offline runs do not apply it)"))
agree = result["agreement"]
cols = st.columns(4)
cols[0].metric("Same prediction as ideal", f"{100 * agree['agreement']:.1f}%")
cols[1].metric("⟨Z⟩ correlation", f"{agree['zcorr']:.3f}")
cols[2].metric("Mean |Δ⟨Z⟩|", f"{agree['zmad']:.3f}")
cols[3].metric("McNemar p", f"{agree['mcnemar']['p_value']:.3f}")
frame = per_clip_frame(result)
z_ideal = frame.filter(like="ideal_z").to_numpy().ravel()
z_device = frame.filter(like=f"{device_target}_z").to_numpy().ravel()
scatter = go.Figure(go.Scatter(x=z_ideal, y=z_device, mode="markers", marker={"size": 4}))
scatter.add_shape(type="line", x0=-1, y0=-1, x1=1, y1=1, line={"dash": "dot"})
scatter.update_layout(title=f"⟨Z⟩ per clip and qubit: ideal vs {device_target}", xaxis_title="ideal",
                      yaxis_title=device_target, height=380)
st.plotly_chart(scatter, key=f"{P}.scatter")
cols = st.columns(len(targets))
for col, target in zip(cols, targets):
    col.plotly_chart(plots.confusion(result[target]["confusion"], list(EMOTIONS), target), key=f"{P}.cm.{target}")
st.download_button("Per-clip results (CSV)", frame.to_csv(index=False), file_name=f"hardware-{job_id}.csv",
                   mime="text/csv", key=f"{P}.csv")
with st.expander("Per-clip table"):
    st.dataframe(frame, hide_index=True, key=f"{P}.frame")

# ---------------------------------------------------------------- curves
st.subheader("Accuracy versus noise and shots (offline, one job per point)")
cols = st.columns(2)
for col, axis in zip(cols, ("noise_scale", "shots")):
    if col.button(f"Draw the {axis.replace('_', ' ')} curve", key=f"{P}.curve.{axis}"):
        from qser_core.hardware.run import noise_curve

        with st.spinner("One job per point…"):
            kwargs = {"noise_scales": [0, 0.25, 0.5, 1, 2]} if axis == "noise_scale" else {"shots": [64, 256, 1024, 4096]}
            st.session_state[f"{P}.curve.{axis}.data"] = noise_curve(cache.picked_model(source), run, device, **kwargs)
    if data := st.session_state.get(f"{P}.curve.{axis}.data"):
        fig = go.Figure(go.Scatter(x=[p[axis] for p in data["points"]], y=[p["ua"] for p in data["points"]],
                                   mode="lines+markers", name="UA"))
        fig.add_hline(y=data["ideal"]["ua"], line_dash="dot", annotation_text="ideal")
        fig.update_layout(title=f"UA vs {axis} ({data['jobs']} jobs)", height=320,
                          xaxis_type="log" if axis == "shots" else "linear")
        col.plotly_chart(fig, key=f"{P}.fig.{axis}")

"""Hardware: a trained quantum head in ideal simulation, under a real device's noise (offline) and on IBM Quantum."""

import dataclasses
import functools

import plotly.graph_objects as go
import streamlit as st

from app_support import cache, hardware_panels, plots, state, widgets
from qser_core.data.corpus import EMOTIONS
from qser_core.errors import QserError
from qser_core.hardware.backends import AUTO, DEFAULT_FAKE, FAKE_BACKENDS, RETIRED, account_configured
from qser_core.hardware.circuit import seed_search_text
from qser_core.hardware.compare import per_clip_frame
from qser_core.hardware.options import PRIMITIVES, READOUT_METHODS

P = "hardware"
SERVICE, LISTING = f"{P}.service", f"{P}.listing"  # this tab's IBM login (memory only, never cached)
st.title("Hardware")

# ---------------------------------------------------------------- model and target
source = widgets.model_picker(page=P, head="quantum")
if source is None:
    st.info("Pick a trained quantum model to run. Offline, the page simulates IBM devices from their calibration "
            "snapshots (fake backends); no IBM Quantum account is needed.")
    st.stop()
config = state.get_config()
use_ibm = st.toggle("Send to IBM Quantum (otherwise: simulate offline with the device's noise)", key=f"{P}.ibm")
service = st.session_state.get(SERVICE) if use_ibm else None
if use_ibm:
    cols = st.columns([3, 1])
    key = cols[0].text_input("IBM Quantum API key (kept in this browser tab's memory only)", type="password",
                             key=f"{P}.key", help="Empty: QISKIT_IBM_TOKEN or the account saved with save_account.")
    if cols[1].button("Connect", key=f"{P}.connect", disabled=not (key or account_configured())):
        from qser_core.hardware.backends import connect, list_backends

        try:
            service = connect(token=key or None, instance=config.hardware.instance or None)
            n_qubits = cache.picked_model(source).head.spec_.n_qubits  # least busy among devices large enough
            listing = list_backends(service, min_qubits=n_qubits)
            st.session_state[SERVICE], st.session_state[LISTING] = service, listing
        except QserError as exc:
            st.error(str(exc))
    if not (key or account_configured()):
        st.warning("No IBM Quantum account is configured: type a key, set QISKIT_IBM_TOKEN, or simulate offline.")

# ---------------------------------------------------------------- settings
listing = st.session_state.get(LISTING) if service is not None else None
if listing:
    rows = {b["name"]: b for b in listing["backends"] if b["operational"]}
    names = list(rows)
    labels = {n: f"{n} · {rows[n]['n_qubits']} qubits · queue {rows[n]['pending_jobs']} · {rows[n]['status']}"
              for n in names}
    default = listing["least_busy"]
else:
    names = list(FAKE_BACKENDS)
    labels = {n: f"{n} · retired Eagle device's noise" if n in RETIRED else f"{n} · calibration snapshot"
              for n in names}
    default = DEFAULT_FAKE if config.hardware.backend in AUTO else config.hardware.backend
if not names:
    st.error("This IBM Quantum account has no operational device; try again later or simulate offline.")
    st.stop()
cols = st.columns(4)
backend = cols[0].selectbox("Device", names, index=names.index(default) if default in names else 0,
                            format_func=labels.get, key=f"{P}.{'account_' if listing else ''}backend",
                            help="Connected: the account's devices, least busy first. Offline: fake backends "
                                 "(Heron devices first; Eagle ones are retired and kept as noise models).")
hw = config.hardware  # the widgets start from the config's hardware section and build a new one
shot_choices = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
shots = cols[1].select_slider("Shots", shot_choices, value=hw.shots if hw.shots in shot_choices else 1024,
                              key=f"{P}.shots")
lambdas = [0.0, 0.25, 0.5, 1.0, 2.0]
noise_scale = cols[2].select_slider("Noise scale λ", lambdas, value=hw.noise_scale if hw.noise_scale in lambdas
                                    else 1.0, key=f"{P}.lambda", disabled=use_ibm)
level = cols[3].select_slider("Optimisation level", [0, 1, 2, 3], value=hw.optimization_level, key=f"{P}.opt")
cols = st.columns(3)
primitive = cols[0].selectbox("Primitive", PRIMITIVES, index=PRIMITIVES.index(hw.primitive), key=f"{P}.primitive",
                              help="estimator: EstimatorV2, one ⟨Z⟩ observable per qubit; sampler: SamplerV2, "
                                   "⟨Z⟩ from the bit strings of the layout's qubits.")
readout = cols[1].selectbox("Readout mitigation (sampler)", READOUT_METHODS, index=READOUT_METHODS.index(hw.readout),
                            key=f"{P}.readout", disabled=primitive != "sampler",
                            help="mthree: M3 calibrates the measured qubits in the same job and corrects every "
                                 "clip's counts; offline and on IBM Quantum.")
readout = readout if primitive == "sampler" else "none"
resilience = cols[2].selectbox("Resilience level (hardware)", [0, 1, 2], index=hw.resilience_level,
                               key=f"{P}.resilience", disabled=primitive != "estimator",
                               help="1: measurement twirling + TREX; 2: adds gate twirling + ZNE. "
                                    "Recorded offline, applied on IBM Quantum only (Estimator).")
cols = st.columns(4)
n_clips = cols[0].number_input("Test clips (0 = all)", min_value=0, value=hw.clips, step=10, key=f"{P}.clips")
recalibrate = cols[1].number_input("Recalibration clips", min_value=0, value=hw.recalibrate, step=10,
                                   key=f"{P}.recal")
trials = cols[2].number_input("Transpiler seeds tried", min_value=1, max_value=64, value=hw.transpile_trials,
                              key=f"{P}.trials", help="the circuit with the fewest two-qubit gates is kept")
dd = cols[3].toggle("Dynamical decoupling", value=hw.dynamical_decoupling, key=f"{P}.dd",
                    help="Pulse sequences on idle qubits; applied on IBM Quantum only (recorded offline).")

try:
    hw = dataclasses.replace(hw, backend=backend, shots=shots, noise_scale=noise_scale, optimization_level=level,
                             primitive=primitive, readout=readout, resilience_level=resilience, clips=int(n_clips),
                             recalibrate=int(recalibrate), transpile_trials=int(trials), dynamical_decoupling=dd)
    if service is None:
        run, device = cache.hardware_plan(source, hw)
    else:  # planned on the account's device; kept in this tab's memory (a service never enters a cache)
        from qser_core.hardware.run import plan

        if st.session_state.get(f"{P}.ibm_plan_key") != (source, hw):
            st.session_state[f"{P}.ibm_plan"] = plan(cache.picked_model(source), hw, fake=False, service=service,
                                                     model_path=source[1] if source[0] == "folder" else None)
            st.session_state[f"{P}.ibm_plan_key"] = (source, hw)
        run, device = st.session_state[f"{P}.ibm_plan"]
except QserError as exc:
    st.error(str(exc))
    st.stop()
stats, estimate = run.isa.stats, run.estimate
cols = st.columns(4)
cols[0].metric("Transpiled depth", stats["depth"])
cols[1].metric("Two-qubit gates", stats["two_qubit_gates"], help=seed_search_text(stats))
cols[2].metric("Clips in the job", len(run.angles))
if run.local:
    cols[3].metric("QPU time on the device", f"{estimate['quantum_seconds']:.1f} s",
                   help="What this job would cost on the device; the offline simulation sends nothing to IBM.")
else:
    cols[3].metric("QPU time estimate", f"{estimate['quantum_seconds']:.1f} s",
                   f"of {estimate['remaining_s']:.0f} s left" if estimate["remaining_s"] is not None else None,
                   delta_color="off", help=f"Checked against {estimate['source']}.")
st.caption(f"Layout (physical qubit of each circuit qubit): {stats['layout']}; two-qubit gates: "
           f"{seed_search_text(stats)}. Estimate: {estimate['formula']} (IBM's quick formula alone: "
           f"{estimate['ibm_quick_formula_s']:.1f} s)."
           + ("" if run.local else f" IBM cancels the job after {estimate['max_execution_time_s']} s."))
with st.expander("Transpiled circuit"):
    st.code(str(run.isa.circuit.draw(output="text", idle_wires=False, fold=140)), language=None)

# ---------------------------------------------------------------- shots advice and dispatch
noise_backend, noise_note = hardware_panels.offline_noise(backend, rows[backend]["n_qubits"] if listing else None)
with st.expander("Shots budget advisor: the fewest shots that keep the head's answers, and the clips that fit"):
    hardware_panels.shots_advisor(P, source, backend=noise_backend, note=noise_note,
                                  noise_scale=noise_scale if run.local else 1.0, n_clips=int(n_clips),
                                  budget_s=None if run.local else estimate["remaining_s"], shots_key=f"{P}.shots",
                                  shot_choices=shot_choices)
if run.local:
    confirmed, over_ok = True, False
    label = f"Simulate {len(run.angles)} clips × {shots} shots offline (one job, λ = {noise_scale})"
else:
    confirmed = st.checkbox(f"Send {len(run.angles)} clips × {shots} shots to {run.backend} as one job "
                            f"(≈ {estimate['quantum_seconds']:.1f} QPU s)", key=f"{P}.confirm")
    over_ok = False
    if not estimate["fits"]:
        st.warning(f"The estimate ({estimate['quantum_seconds']:.0f} s) exceeds the {estimate['remaining_s']:.0f} s "
                   "left in this account's window. Use fewer clips or shots, or confirm below.")
        over_ok = st.checkbox("Send anyway, over the time left", key=f"{P}.over")
    label = "Dispatch to IBM Quantum"
if st.button(label, type="primary", disabled=not confirmed, key=f"{P}.dispatch"):
    from qser_core.hardware.run import dispatch

    try:
        if run.local:
            with st.spinner("Running one job on the simulated device…"):
                out = dispatch(cache.picked_model(source), run, device)
        else:
            out = dispatch(cache.picked_model(source), run, device, wait_result=False, confirmed=over_ok)
        st.session_state[f"{P}.job"] = out.get("job_id") or out["job_ids"][0]
    except QserError as exc:
        st.error(str(exc))
    cache.hardware_jobs.clear()

# ---------------------------------------------------------------- noise-aware against ideal training
st.subheader("Noise-aware training against ideal training (offline)")
hardware_panels.noise_aware_comparison(P, source, backend=noise_backend, note=noise_note, shots=shots,
                                       n_clips=int(n_clips), recalibrate=int(recalibrate))

# ---------------------------------------------------------------- jobs
st.subheader("Jobs")
if st.button("Refresh status from IBM Quantum", key=f"{P}.refresh"):
    from qser_core.hardware.run import job_list

    try:
        job_list(refresh=True, service=st.session_state.get(SERVICE), instance=config.hardware.instance or None)
    except QserError as exc:
        st.error(str(exc))
    cache.hardware_jobs.clear()
jobs = cache.hardware_jobs()
if not jobs:
    st.caption("No recorded jobs yet.")
    st.stop()
st.dataframe(jobs, hide_index=True, key=f"{P}.jobs",
             column_order=["submitted", "model", "backend", "target", "shots", "noise_scale", "status", "job_id"],
             column_config={"noise_scale": "λ", "submitted": "submitted (UTC)"})
ids = [j["job_id"] for j in jobs]
by_id = {j["job_id"]: j for j in jobs}
current = st.session_state.get(f"{P}.job")


def _job_label(job_id: str) -> str:
    j = by_id[job_id]
    lam = "" if j["noise_scale"] is None else f" · λ {j['noise_scale']}"
    return f"{j['submitted']} · {j['model'] or '?'} · {j['backend']} · {j['shots']} shots{lam} · {j['status']}"


job_id = st.selectbox("Show job", ids, index=ids.index(current) if current in ids else 0, format_func=_job_label,
                      key=f"{P}.show")
row = by_id[job_id]
if row["status"] in ("ERROR", "CANCELLED"):
    st.error(f"Job {job_id} ended {row['status']}: {row['reason']}")
    st.stop()
if row["status"] != "DONE":
    if st.button("Fetch result", key=f"{P}.fetch"):
        from qser_core.hardware.run import fetch

        try:
            fetch(job_id, service=st.session_state.get(SERVICE))
            cache.hardware_jobs.clear()
            st.rerun()
        except QserError as exc:
            st.error(str(exc))
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
if not run.local:
    st.stop()
st.subheader("Accuracy versus noise and shots (offline, one job per point)")
st.caption("Bars are 95% bootstrap intervals over the test clips. λ = 0 is the device without noise but still "
           "sampled with shots, so it can sit a little above or below “ideal” (exact ⟨Z⟩): that gap is shot noise.")
AXES = {"noise_scale": ("noise scale λ", {"noise_scales": [0, 0.25, 0.5, 1, 2]}),
        "shots": ("shots per clip", {"shots": [64, 256, 1024, 4096]})}
curves = st.session_state.setdefault(f"{P}.curves", {})
from qser_core.hardware.run import noise_curve  # noqa: E402  (the curves' heavy imports, only when they are offered)

cols = st.columns(2)
for col, (axis, (title, kwargs)) in zip(cols, AXES.items()):
    key = (source, hw, axis)  # the model and the run's settings drawn with
    with col:
        hardware_panels.offline_run(P, f"curve.{axis}", key=key, button=f"Draw the {title} curve", results=curves,
                                    track=True, call=functools.partial(noise_curve, cache.picked_model(source), run,
                                                                       device, **kwargs))
    if data := curves.get(key):
        points = data["points"]
        fig = go.Figure(go.Scatter(
            x=[p[axis] for p in points], y=[p["ua"] for p in points], mode="lines+markers", name="UA",
            error_y={"type": "data", "symmetric": False, "array": [p["ua_ci95"][1] - p["ua"] for p in points],
                     "arrayminus": [p["ua"] - p["ua_ci95"][0] for p in points]}))
        fig.add_hline(y=data["ideal"]["ua"], line_dash="dot", annotation_text="ideal (exact ⟨Z⟩)")
        fig.update_layout(title=f"UA vs {title} ({data['jobs']} jobs)", height=320, xaxis_title=title,
                          yaxis_title="unweighted accuracy (UA)", xaxis_type="log" if axis == "shots" else "linear")
        col.plotly_chart(fig, key=f"{P}.fig.{axis}")

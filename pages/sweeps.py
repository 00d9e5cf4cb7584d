"""Sweeps: a grid of configurations × folds × seeds on Ray — define, launch, watch, reopen, draw.

The same as ``qser sweep --grid ...``: :func:`qser_core.experiments.sweeps.runner.run_sweep` in its own process,
watched by a background thread (:mod:`app_support.sweep_job`: Ray never runs inside the server); past
sweeps come back from the run store.
"""

import streamlit as st

from app_support import cache, state, sweep_job, sweep_plots, widgets
from qser_core.errors import QserError
from qser_core.experiments.sweeps.runner import expand_grid, parse_grid

P = "sweeps"
JOB = f"{P}.job"
DEFAULT_VALUES = {"head.kind": "logreg,mlp-matched,quantum", "reduce.n_qubits": "2,4,6,8", "head.n_layers": "1,2,4"}
st.title("Sweeps")
st.caption("Every (configuration, fold, seed) is one Ray task; finished configurations are recorded as they come, "
           "and a sweep run again under the same name skips them.")
job = st.session_state.get(JOB)
running = job is not None and job.alive
config = state.get_config()

st.subheader("Define a grid")
fields = [f"{s}.{k}" for s, values in config.to_dict().items() for k in values if k not in ("data_dir", "cache_dir")]
axes = st.multiselect("Axes (config fields)", fields, default=["head.kind", "reduce.n_qubits"], key=f"{P}.axes")
cols = st.columns(3)
raw = {}
for i, axis in enumerate(axes):
    section, name = axis.split(".")
    current = getattr(getattr(config, section), name)
    default = DEFAULT_VALUES.get(axis, " ".join(map(str, current)) if isinstance(current, tuple) else str(current))
    raw[axis] = cols[i % 3].text_input(f"{axis} values (comma-separated)", value=default, key=f"{P}.v.{axis}")
cols = st.columns(4)
with cols[0]:
    widgets.bind(st.number_input, "data", "n_folds", "Folds", page=P, min_value=2, max_value=20)
with cols[1]:
    widgets.bind(st.text_input, "train", "seeds", "Seeds (comma-separated)", page=P,
                 from_config=lambda s: ", ".join(map(str, s)),
                 to_config=lambda t: tuple(int(v) for v in t.replace(",", " ").split()))
with cols[2]:
    widgets.bind(st.number_input, "train", "epochs", "Epochs (maximum; early stopping)", page=P, min_value=1,
                 max_value=10000)
name = cols[3].text_input("Sweep name (empty: derived from config and grid)", key=f"{P}.name").strip() or None
config = state.get_config()
try:
    grid = parse_grid([f"{a}={v}" for a, v in raw.items()])
    cells = expand_grid(config, grid)
except QserError as exc:
    st.error(str(exc))
    grid, cells = None, []
per_cell = config.data.n_folds * len(config.train.seeds)
epochs = sorted({c.config.train.epochs for c in cells}) or [config.train.epochs]  # the grid may set them
st.caption(f"{len(cells)} configurations × {config.data.n_folds} folds × {len(config.train.seeds)} seeds = "
           f"{len(cells) * per_cell} tasks (at most {'/'.join(map(str, epochs))} epochs each, on "
           f"{config.data.dataset}).")
if per_cell < sweep_plots.MIN_INTERVAL_VALUES:
    st.warning(f"Only {per_cell} fold × seed value{'s' if per_cell > 1 else ''} per configuration: its 95% "
               "interval will mean little (at least 3 are needed). Use more folds or seeds to compare cells.")

cols = st.columns([1, 1, 4])
if cols[0].button("Launch", type="primary", disabled=running or grid is None, key=f"{P}.start"):
    job = st.session_state[JOB] = sweep_job.SweepJob(config, grid, name=name).start()
    running = True
if cols[1].button("Stop", disabled=not running, key=f"{P}.stop"):
    job.stop()


@st.fragment(run_every=1.0 if running else None)
def live() -> None:
    snap = job.snapshot()
    done, total, message = snap.progress
    unit = "" if "clips" in message else " tasks"  # extraction reports clips, then the tasks follow
    text = f"{snap.status}: {done} of {total}{unit}" + (f" · {message}" if message else "")
    st.progress(min(done / max(total, 1), 1.0), text=text)
    if snap.status == "stopping":
        st.info(f"Stopping: running tasks are cancelled ({snap.left() or 'nothing left to run'}); "
                "finished configurations stay recorded.")
    elif snap.left():
        st.caption(snap.left())
    if snap.error:
        st.error(snap.error)
    if snap.result is not None:
        st.dataframe(snap.result.frame(), hide_index=True, key=f"{P}.live_table")
    if snap.finished and running:
        st.rerun()  # once, to list the finished sweep below


if job is not None:
    st.subheader(f"Current sweep{': ' + job.name if job.name else ''}")
    live()

st.subheader("Recorded sweeps")
recorded = cache.sweeps(None if job is None else (id(job), running))
if recorded.empty:
    st.info("No sweeps recorded yet: define a grid and launch one (or run `qser sweep --grid ...`).")
    st.stop()
picked = st.selectbox("Sweep", recorded["name"].tolist(), key=f"{P}.picked",
                      format_func=lambda n: f"{n} · {recorded.set_index('name').loc[n, 'status']}")
result = cache.sweep_record(picked)  # a damaged record raises DataError: the router shows its message
frame = result.frame()
st.dataframe(frame, hide_index=True, key=f"{P}.table")
st.download_button("Download as CSV", frame.to_csv(index=False), file_name=f"{picked}.csv", mime="text/csv",
                   key=f"{P}.csv")
if result.reason and result.status != "finished":
    st.warning(f"This sweep is {result.status}: {result.reason}")
if (few := sweep_plots.few_values(frame)) is not None:
    st.warning(f"Only {few} fold × seed values lie behind some cells' 95% intervals: they mean little, so no "
               "interval bands are drawn. Run the sweep with more folds or seeds to compare cells.")
st.plotly_chart(sweep_plots.ua_vs_qubits(frame, result.axes), key=f"{P}.ua_qubits")
cols = st.columns(2)
for col, fig, key in ((cols[0], sweep_plots.quantum_heatmap(frame), "heatmap"),
                      (cols[1], sweep_plots.quantum_minus_matched(frame, result.axes), "delta")):
    if fig is not None:
        col.plotly_chart(fig, key=f"{P}.{key}")
    else:
        col.info("Needs quantum cells" + (" and their parameter-matched MLPs (head.kind=mlp-matched)"
                                          if key == "delta" else "") + " in the grid.")
st.plotly_chart(sweep_plots.params_vs_ua(frame), key=f"{P}.params")

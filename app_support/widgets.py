"""Widgets ↔ config: every config-editing widget is bound to one ``section.field`` of the session's QserConfig.

A bound widget shows the config's current value; changing it replaces the config with
``config.replace(section, field=value)`` (validated again). A rejected value leaves the config
unchanged and shows the validation message. Also: the shared sidebar, progress bars for the
library's ``progress(done, total, message)`` callbacks.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import streamlit as st

from app_support import jobs, state
from qser_core.config import ANSATZE, BACKBONES, DATASETS, ENCODINGS, EXECUTORS, HEAD_KINDS, QserConfig
from qser_core.config_help import field_help
from qser_core.errors import QserError
from app_support.watch import epoch_status, search_status
from qser_core.hardware.backends import FAKE_BACKENDS  # names only: Qiskit loads with a device
from qser_core.progress import Progress

#: Fields whose value is one of a closed vocabulary (shown as a select box).
CHOICES = {
    ("embedding", "backbone"): BACKBONES,
    ("head", "kind"): HEAD_KINDS,
    ("head", "encoding"): ENCODINGS,
    ("head", "ansatz"): ANSATZE,
    ("head", "executor"): EXECUTORS,  # from the config: the registry itself would import torch and PennyLane
    ("head", "noise_backend"): tuple(FAKE_BACKENDS),
}
#: Fields the sidebar edits together (a dataset needs its folder).
SIDEBAR_FIELDS = {("data", "dataset"), ("data", "data_dir")}


def _apply(section: str, name: str, key: str, to_config: Callable[[Any], Any]) -> None:
    """on_change: write the widget's value into the config (or keep the message of why not)."""
    try:
        value = to_config(st.session_state[key])
        state.set_config(state.get_config().replace(section, **{name: value}))
        st.session_state[state.CONFIG_ERROR] = ""
    except (QserError, TypeError, ValueError) as exc:
        st.session_state[state.CONFIG_ERROR] = str(exc)


def bind(
    widget: Callable[..., Any],
    section: str,
    name: str,
    label: str,
    *,
    page: str,
    to_config: Callable[[Any], Any] = lambda v: v,
    from_config: Callable[[Any], Any] = lambda v: v,
    **kwargs: Any,
) -> Any:
    """Show ``widget`` (``st.slider``, ``st.selectbox``, ...) bound to ``config.<section>.<name>``.

    ``to_config``/``from_config`` convert between the widget's value and the field's value (e.g.
    a list of seeds ↔ a tuple). The widget key is ``"<page>.<section>.<name>"``. Returns the
    config's value after the change.
    """
    key = state.page_key(page, f"{section}.{name}")
    current = getattr(getattr(state.get_config(), section), name)
    st.session_state[key] = from_config(current)  # the config is the source of truth
    widget(label, key=key, on_change=_apply, args=(section, name, key, to_config), **kwargs)
    if st.session_state.get(state.CONFIG_ERROR):
        st.error(st.session_state[state.CONFIG_ERROR])
        st.session_state[state.CONFIG_ERROR] = ""
    return getattr(getattr(state.get_config(), section), name)


def settings_editor(*, page: str) -> None:
    """Every config field, one expander per section: what ``qser --set section.field=value`` reaches.

    Also loads a TOML file (as written by "Download config" or ``qser config show``).
    """
    uploaded = st.file_uploader("Load a config (TOML)", type=["toml"], key=state.page_key(page, "toml"))
    if uploaded is not None and st.button("Use this config", key=state.page_key(page, "use_toml")):
        try:
            state.set_config(QserConfig.from_toml_text(uploaded.getvalue().decode("utf-8"), source=uploaded.name))
            st.rerun()
        except (QserError, UnicodeDecodeError) as exc:
            st.error(str(exc))
    config = state.get_config()
    for section in config.to_dict():
        with st.expander(f"[{section}]"):
            for field in dataclasses.fields(getattr(config, section)):
                if (section, field.name) not in SIDEBAR_FIELDS:
                    _field_widget(section, field.name, getattr(getattr(config, section), field.name), page)


def _field_widget(section: str, name: str, value: Any, page: str) -> None:
    """The widget for one field, chosen by its vocabulary or its type; its help is the field's comment."""
    label, common = f"{section}.{name}", dict(page=page, help=field_help()[section, name] or None)
    if (section, name) in CHOICES:
        bind(st.selectbox, section, name, label, options=CHOICES[section, name], **common)
    elif isinstance(value, bool):
        bind(st.checkbox, section, name, label, **common)
    elif isinstance(value, int):
        bind(st.number_input, section, name, label, step=1, **common)
    elif isinstance(value, float):
        bind(st.number_input, section, name, label, format="%g", **common)
    elif isinstance(value, tuple):
        list_input(section, name, label, **common)
    else:
        bind(st.text_input, section, name, label, **common)


def list_input(section: str, name: str, label: str, *, page: str, **kwargs: Any) -> Any:
    """A text box bound to a list-of-integers field (seeds): ``"0, 1, 2"``, read by the config's own parser.

    A bad entry (``"0, one"``) gets the config's message ("train.seeds must be a list of integers;
    got '0, one'"), not Python's.
    """
    return bind(st.text_input, section, name, label, page=page, from_config=lambda v: ", ".join(map(str, v)),
                to_config=lambda text: getattr(getattr(state.get_config().with_overrides(
                    [f"{section}.{name}={text}"]), section), name), **kwargs)


def progress_bar(label: str) -> tuple[Progress, Any]:
    """A ``progress(done, total, message)`` callback drawing an ``st.progress`` bar with the time left, and the bar.

    The time left is the mean time per step so far times the steps to go (shown once a step is done).
    """
    import time

    bar = st.progress(0.0, text=label)
    start = time.perf_counter()
    first: list[int] = []  # steps already done at the first call (a resumed cache): not timed

    def progress(done: int, total: int, message: str = "") -> None:
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        first[:] = first or [done]
        elapsed, timed = time.perf_counter() - start, done - first[0]
        left = f" · about {_duration(elapsed / timed * (total - done))} left" if timed > 0 and done < total else ""
        bar.progress(fraction, text=(f"{label}: {message}" if message else label) + left)

    return progress, bar


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


#: Heads fitted by one exact solve (L-BFGS) per candidate: no epochs to count, no curves to draw.
ONE_SOLVE_HEADS = ("logreg",)


def head_epochs(head: str, epochs: int) -> int:
    """Upper bound on epochs of ``head``: 1 for a one-solve head, ``train.epochs`` otherwise."""
    return 1 if head in ONE_SOLVE_HEADS else epochs


def head_finished(snap: Any, head: str) -> bool:
    """Whether ``head`` is done in the job (scored, the job over, or a later head already started)."""
    later = snap.heads[snap.heads.index(head) + 1:] if head in snap.heads else []
    search = getattr(snap, "search", {})
    return head in snap.results or snap.finished or any(snap.logs.get(h) or search.get(h) for h in later)


def searching(snap: Any, head: str) -> bool:
    """Whether ``head`` is in its tuning search now (its live view is the candidate being trained)."""
    return bool(getattr(snap, "search", {}).get(head)) and not head_finished(snap, head)


def stop_note(result: Any) -> str:
    """Where Stop cut a head's training ("" when it ran to its end): the tuning candidate and epoch."""
    tuning = getattr(getattr(result, "head", None), "tuning_", None)
    if tuning is not None and tuning.cancelled:
        return tuning.stop_reason()
    summary = result.summary() if hasattr(result, "summary") else {}
    return "stopped by the user; the best weights so far were scored" if summary.get("cancelled") else ""


def head_status(snap: Any, head: str, *, epochs: int, n_runs: int = 1) -> str:
    """One head's line in a job's progress.

    In its tuning search: ``tuning search: candidate k / n (settings) · epoch e / N · best val UA so far ·
    time left``; once done: what it was (``finished``, ``STOPPED`` with the candidate and epoch Stop cut,
    the candidate chosen), or for a one-solve head its validation UA.
    """
    rows = snap.logs.get(head, [])
    epochs = head_epochs(head, epochs)
    search = getattr(snap, "search", {}).get(head)
    if searching(snap, head):
        line = search_status(search["event"], search["seconds"], epochs=epochs, run=len(search["runs"]),
                             n_runs=n_runs)
        return f"tuning search: {line}" if search["event"].n_candidates > 1 else line
    if not rows:
        return "waiting for its turn" if not snap.finished else "never ran"
    status = epoch_status(rows, epochs=epochs, n_runs=n_runs)
    if not head_finished(snap, head):
        return status.describe()
    result = snap.results.get(head)
    stopped = stop_note(result) if result is not None else ""
    best = "" if math.isnan(status.best_val_ua) else f" · best val UA {status.best_val_ua:.3f}"
    if stopped:
        return f"STOPPED: {stopped}{best}"
    tuning = getattr(getattr(result, "head", None), "tuning_", None)
    chose = ""
    if tuning is not None and len(tuning.trials) > 1:
        from qser_core.experiments.tuning import describe

        chose = f" · chose {describe(tuning.chosen)} of {len(tuning.trials)} candidates"
    if head in ONE_SOLVE_HEADS:
        return f"finished: one exact solve per candidate{chose}{best}"
    return f"finished at epoch {status.epoch}{chose}{best}"


def job_fraction(snap: Any, *, epochs: int, n_runs: int = 1) -> float:
    """Share of a job's heads done, counting the epochs of the candidate in training (an upper bound on work)."""
    if not snap.heads:
        return 0.0
    done = 0.0
    for head in snap.heads:
        if head_finished(snap, head):
            done += 1
        elif searching(snap, head):
            search = snap.search[head]
            event, n_epochs = search["event"], head_epochs(head, epochs)
            epoch = int(event.epoch_log.epoch) if event.epoch_log is not None else 0
            per_run = event.n_candidates * n_epochs
            done += ((len(search["runs"]) - 1) * per_run + (event.candidate - 1) * n_epochs + epoch) / (
                max(n_runs, len(search["runs"])) * per_run)
    return min(done / len(snap.heads), 1.0)


def job_progress(snap: Any, label: str, *, epochs: int, n_runs: int = 1) -> None:
    """A training job's progress: one bar for the job, then per head epoch k / N, best validation UA, time left."""
    done, total, message = snap.progress
    fraction = job_fraction(snap, epochs=epochs, n_runs=n_runs) if getattr(snap, "search", None) else (
        min(done / total, 1.0) if total else 0.0)
    st.progress(fraction, text=f"{label} · {snap.status} · {message} · {snap.seconds:.0f} s")
    for head in snap.heads:
        st.caption(f"**{head}**: {head_status(snap, head, epochs=epochs, n_runs=n_runs)}")


#: Where one trained model comes from (the Hardware page; the Live demo offers these and more, several at once).
MODEL_SOURCES = {"recorded": "a recorded training run (any session, `qser train` included)",
                 "folder": "a saved model folder (`qser train --out DIR`)"}


def model_picker(*, page: str, head: str | None = None) -> tuple[str, str] | None:
    """Pick one trained model: ``("recorded", run_id)``, ``("folder", path)``, or None while none is chosen.

    Recorded runs are listed by :mod:`app_support.catalogue` (as on the Live demo);
    ``head`` keeps only that head kind and a caption says how many other recorded models were left
    out. Load the choice with :func:`app_support.cache.picked_model`.
    """
    from app_support.catalogue import eligible_models, recorded_models

    source = st.radio("Model", list(MODEL_SOURCES), format_func=MODEL_SOURCES.get, key=f"{page}.source",
                      horizontal=True)
    if source == "folder":
        folder = st.text_input("Model folder", key=f"{page}.model", placeholder="models/q8",
                               help="A folder written by `qser train --out DIR` (config.toml + the model files). "
                                    "Load only models you trust.")
        return ("folder", folder.strip()) if folder.strip() else None
    include = stopped_toggle(page=page)
    labels, others = eligible_models(head, include_stopped=include) if head else (
        recorded_models(include_stopped=include), 0)
    if others:
        st.caption(f"{others} recorded model{'s' if others > 1 else ''} without a {head} head "
                   f"{'are' if others > 1 else 'is'} not listed: this page runs {head} heads only.")
    if not labels:
        st.info(f"No recorded training run{' with a ' + head + ' head' if head else ''} yet: train one on the "
                f"Train page (quick protocol) or with `qser train{' --set head.kind=' + head if head else ''}`, "
                "or pick a saved model folder.")
        return None
    run_id = st.selectbox("Recorded model", list(labels), format_func=labels.get, key=f"{page}.run",
                          help="Runs that trained one model and finished (and, when included, runs stopped by the "
                               "user, labelled STOPPED); newest first.")
    if "STOPPED" in labels[run_id]:
        st.warning("This run was stopped before its training ended: its model is a partial result.")
    return "recorded", run_id


def stopped_toggle(*, page: str) -> bool:
    """A checkbox "Include stopped runs": model pickers leave runs stopped by the user out unless it is ticked.

    The rule itself is :func:`app_support.catalogue.usable`; the caption says how many were left out.
    """
    from app_support.catalogue import stopped_models

    n = stopped_models()
    include = st.checkbox("Include stopped runs (partial models)", value=False, key=f"{page}.include_stopped",
                          help="Runs stopped with Stop hold the best weights before Stop: a partial result, "
                               "left out of this list unless ticked.")
    if n and not include:
        st.caption(f"{n} stopped run{'s' if n > 1 else ''} not listed (partial models): tick the box to see "
                   f"{'them' if n > 1 else 'it'}.")
    return include


def model_downloads(model: Any, *, name: str, key: str) -> None:
    """Download buttons for a trained model (zip of its saved folder) and its test confusion matrix (CSV)."""
    from qser_core.data.corpus import EMOTIONS
    from app_support.catalogue import zip_model

    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "model"
    cols = st.columns(2)
    cols[0].download_button("Model (zip)", data=lambda: zip_model(model), file_name=f"{slug}.zip",
                            mime="application/zip", key=f"{key}.model", icon=":material/download:",
                            help="The saved model folder: unzip it and run `qser predict clip.wav --model DIR`.")
    if "confusion" in getattr(model, "metrics", {}):
        confusion_download(model.metrics["confusion"], EMOTIONS, name=slug, key=f"{key}.confusion", column=cols[1])


def confusion_download(matrix: Any, labels: Any, *, name: str, key: str, column: Any = None) -> None:
    """A download button for a confusion matrix as CSV (rows: true emotion, columns: predicted)."""
    from app_support.catalogue import confusion_csv

    (column or st).download_button("Confusion matrix (CSV)", confusion_csv(matrix, list(labels)),
                                   file_name=f"{name}-confusion.csv", mime="text/csv", key=key,
                                   icon=":material/download:")


def sidebar(page: Any = None) -> None:
    """The shared sidebar: the active dataset (remembered across restarts) and the main config.

    ``page`` is the ``st.Page`` being shown (the sidebar does not point at the page you are on).
    """
    from app_support import cache

    config = state.get_config()
    with st.sidebar:
        st.subheader("Dataset")
        if config.data.dataset == "demo":
            st.markdown("**demo** — SYNTHETIC eSpeak NG speech")
        else:
            st.markdown(f"**{config.data.dataset}** — `{config.data.data_dir}`")
        with st.expander("Change dataset"):
            dataset = st.selectbox("Corpus", DATASETS, index=DATASETS.index(config.data.dataset), key="sidebar.dataset")
            data_dir = st.text_input("Folder (manifest: the CSV file)", value=config.data.data_dir,
                                     key="sidebar.data_dir", disabled=dataset == "demo")
            if st.button("Use this dataset", key="sidebar.use"):
                folder = "" if dataset == "demo" else data_dir.strip()
                try:
                    chosen = config.replace("data", dataset=dataset, data_dir=folder)
                    cache.corpus(chosen)  # indexes it: a missing folder or one without audio fails here
                    state.set_config(chosen)
                    state.remember_dataset(dataset, folder)  # remembered only once it proved usable
                    st.rerun()
                except QserError as exc:
                    st.error(str(exc))
        busy = jobs.BOARD.running()  # any tab's job: the server trains one at a time
        if busy and getattr(page, "url_path", "") != "train":
            st.info("Training " + "; ".join(entry.job.label for entry in busy) + " in the background.")
            st.page_link("pages/train.py", label="Watch it on the Train page", icon=":material/model_training:")
        st.subheader("Configuration")
        c = state.get_config()
        st.caption(
            f"backbone **{c.embedding.backbone}** · qubits **{c.reduce.n_qubits}** · head **{c.head.kind}** · "
            f"{c.head.encoding} / {c.head.ansatz} × {c.head.n_layers} · epochs {c.train.epochs} · "
            f"seeds {', '.join(map(str, c.train.seeds))}"
        )
        st.download_button("Download config (TOML)", c.to_toml(), file_name="qser.toml", key="sidebar.toml")
        if st.button("Reset to defaults", key="sidebar.reset", help="Every setting back to its default, the "
                     "dataset included (the demo corpus; the remembered choice is forgotten)."):
            state.forget_dataset()
            state.set_config(state.default_config())
            st.rerun()

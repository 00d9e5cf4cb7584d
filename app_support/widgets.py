"""Widgets ↔ config: every config-editing widget is bound to one ``section.field`` of the session's QserConfig.

A bound widget shows the config's current value; changing it replaces the config with
``config.replace(section, field=value)`` (validated again). A rejected value leaves the config
unchanged and shows the validation message. Also: the shared sidebar, progress bars for the
library's ``progress(done, total, message)`` callbacks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import streamlit as st

from app_support import state
from qser_core.config import ANSATZE, BACKBONES, DATASETS, ENCODINGS, HEAD_KINDS, QserConfig
from qser_core.errors import QserError
from qser_core.heads.executors import executor_names
from qser_core.progress import Progress

#: Fields whose value is one of a closed vocabulary (shown as a select box).
CHOICES = {
    ("embedding", "backbone"): BACKBONES,
    ("head", "kind"): HEAD_KINDS,
    ("head", "encoding"): ENCODINGS,
    ("head", "ansatz"): ANSATZE,
    ("head", "executor"): executor_names(),
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
    """The widget for one field, chosen by its vocabulary or its type."""
    label = f"{section}.{name}"
    if (section, name) in CHOICES:
        bind(st.selectbox, section, name, label, page=page, options=CHOICES[section, name])
    elif isinstance(value, bool):
        bind(st.checkbox, section, name, label, page=page)
    elif isinstance(value, int):
        bind(st.number_input, section, name, label, page=page, step=1)
    elif isinstance(value, float):
        bind(st.number_input, section, name, label, page=page, format="%g")
    elif isinstance(value, tuple):
        bind(st.text_input, section, name, label, page=page, from_config=lambda v: ", ".join(map(str, v)),
             to_config=lambda t: tuple(int(v) for v in t.replace(",", " ").split()))
    else:
        bind(st.text_input, section, name, label, page=page)


def progress_bar(label: str) -> tuple[Progress, Any]:
    """A ``progress(done, total, message)`` callback drawing an ``st.progress`` bar, and the bar."""
    bar = st.progress(0.0, text=label)

    def progress(done: int, total: int, message: str = "") -> None:
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        bar.progress(fraction, text=f"{label}: {message}" if message else label)

    return progress, bar


def sidebar() -> None:
    """The shared sidebar: the active dataset (remembered across restarts) and the main config."""
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
                    state.set_config(config.replace("data", dataset=dataset, data_dir=folder))
                    state.remember_dataset(dataset, folder)
                    st.rerun()
                except QserError as exc:
                    st.error(str(exc))
        job = st.session_state.get(state.TRAIN_JOB)
        if job is not None and job.alive:
            st.info(f"Training {job.label} in the background — see the Train page.")
        st.subheader("Configuration")
        c = state.get_config()
        st.caption(
            f"backbone **{c.embedding.backbone}** · qubits **{c.reduce.n_qubits}** · head **{c.head.kind}** · "
            f"{c.head.encoding} / {c.head.ansatz} × {c.head.n_layers} · epochs {c.train.epochs} · "
            f"seeds {', '.join(map(str, c.train.seeds))}"
        )
        st.download_button("Download config (TOML)", c.to_toml(), file_name="qser.toml", key="sidebar.toml")
        if st.button("Reset to defaults", key="sidebar.reset"):
            state.set_config(state.default_config())
            st.rerun()

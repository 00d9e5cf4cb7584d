"""Session state of the dashboard: the one QserConfig, its defaults, and the remembered dataset.

Global keys live here (``config``, ``config_error``, ``train_job``); page-local keys carry the
page's name as a prefix (``data.actor``, ``train.heads``, ...). The dataset the user picked is
remembered across restarts in ``qser_home()/dashboard.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from qser_core.config import QserConfig, qser_home
from qser_core.errors import ConfigError

CONFIG = "config"  # the QserConfig every page reads and the widgets edit
CONFIG_ERROR = "config_error"  # message of the last rejected widget value
TRAIN_JOB = "train_job"  # the running or finished app_support.jobs.TrainingJob
ROUTED = "routed"  # set by app.py: the router (st.navigation, sidebar) ran in this session
REMEMBERED = "dashboard.json"  # file under qser_home() holding the dataset choice


def remembered_path() -> Path:
    """Where the dataset choice is kept (``qser_home()/dashboard.json``)."""
    return qser_home() / REMEMBERED


def load_remembered() -> dict[str, str]:
    """The remembered ``{"dataset", "data_dir"}`` (empty when none or unreadable)."""
    try:
        values = json.loads(remembered_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: str(values[k]) for k in ("dataset", "data_dir") if k in values}


def remember_dataset(dataset: str, data_dir: str) -> None:
    """Keep the dataset choice for the next start of the app."""
    path = remembered_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dataset": dataset, "data_dir": data_dir}), encoding="utf-8")


def forget_dataset() -> None:
    """Drop the remembered dataset choice (the next start opens on the demo corpus)."""
    remembered_path().unlink(missing_ok=True)


def default_config() -> QserConfig:
    """Built-in defaults plus the remembered dataset.

    Falls back to the demo corpus when the remembered choice is invalid or its folder is gone
    (it was usable when remembered: the sidebar indexes a corpus before remembering it).
    """
    config, remembered = QserConfig(), load_remembered()
    if remembered:
        try:
            chosen = config.replace("data", **remembered)
        except ConfigError:
            return config
        if chosen.data.dataset == "demo" or Path(chosen.data.data_dir).expanduser().exists():
            return chosen
    return config


def init_session() -> None:
    """Set the global session keys once per browser session."""
    if CONFIG not in st.session_state:  # not setdefault: building the defaults took 3 ms, 100 times a render
        st.session_state[CONFIG] = default_config()
    st.session_state.setdefault(CONFIG_ERROR, "")


def mark_routed() -> None:
    """Called by app.py once its router has run in this session."""
    st.session_state[ROUTED] = True


def get_config() -> QserConfig:
    """The session's configuration (every page starts here).

    A deep link (``/train``) that is the first request to a freshly started server runs the page
    file alone — Streamlit's legacy ``pages/`` discovery is only switched off once ``st.navigation``
    has run — so without the router, the page hands over to app.py instead of rendering half an app.
    """
    if not st.session_state.get(ROUTED):
        st.switch_page("app.py")
    init_session()
    return st.session_state[CONFIG]


def set_config(config: QserConfig) -> None:
    """Replace the session's configuration."""
    st.session_state[CONFIG] = config


def page_key(page: str, name: str) -> str:
    """A page-local session key, ``"<page>.<name>"``."""
    return f"{page}.{name}"

"""Settings: every field of the experiment's configuration, with its meaning and unit, and a TOML file to load."""

import streamlit as st

from app_support import widgets

P = "settings"

st.title("Settings")
st.caption("Every field of the experiment's configuration (`qser --set section.field=value` reaches the same ones); "
           "hover the ? beside a field for its meaning and unit. Pages show the main ones; the dataset is chosen in "
           "the sidebar. Changes apply to this browser tab's session and every page at once.")
widgets.settings_editor(page=P)

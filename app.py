"""QSER Lab dashboard: ``streamlit run app.py``.

The router: session defaults, the shared sidebar, the page list (``st.navigation``), and the
error boundary that turns any QserError into a readable message. Each page is a short file in
``pages/``; every ``st.cache_*`` lives in ``app_support/cache.py``.
"""

from pathlib import Path

import streamlit as st

from app_support import cache, state, widgets
from qser_core.errors import QserError

# The favicon ships with the app (an icon name would make the browser fetch it from the internet).
FAVICON = Path(__file__).resolve().parent / ".streamlit" / "favicon.png"
st.set_page_config(page_title="QSER Lab", page_icon=str(FAVICON), layout="wide")
state.init_session()

pages = {
    "Lab": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data and spectrograms", icon=":material/graphic_eq:"),
        st.Page("pages/embeddings.py", title="Embeddings and PCA", icon=":material/scatter_plot:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/circuit.py", title="Circuit", icon=":material/memory:"),
        st.Page("pages/compare.py", title="Compare runs", icon=":material/leaderboard:"),
        st.Page("pages/sweeps.py", title="Sweeps", icon=":material/grid_on:"),
        st.Page("pages/live.py", title="Live demo", icon=":material/mic:"),
        st.Page("pages/hardware.py", title="Hardware", icon=":material/dns:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/tune:"),
    ],
}
page = st.navigation(pages)
state.mark_routed()
cache.startup(state.get_config())  # the corpus, the run store and the default models, in the background
widgets.sidebar(page)
try:
    page.run()
except QserError as exc:  # anything else is a bug and keeps its traceback
    st.error(str(exc))
finally:
    cache.startup(state.get_config()).page_drawn.set()  # the start-up job may now open the run store

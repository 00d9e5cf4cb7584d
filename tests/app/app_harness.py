"""Helpers of the dashboard tests: open the whole app (router + pages) in AppTest on a page, inspect, wait."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # app_support is not an installed package; the app imports it from the repo root
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

TIMEOUT = 300  # first runs generate the demo corpus and extract embeddings


def open_page(page: str | None = None, **session) -> AppTest:
    """The app (``app.py``: router, sidebar, session defaults) run once on ``page`` (e.g. ``"pages/data.py"``).

    ``session`` values are set before the first run (the app keeps them: its defaults use setdefault).
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    if page is not None:  # st.Page url paths are the file names, so the page resolves before the first run
        at.switch_page(page)
    return at.run()


def texts(at: AppTest) -> str:
    """All markdown, captions, info, warning, success and error text of the page, joined."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def elements(at: AppTest, kind: str) -> list:
    """Elements of a type AppTest has no accessor for (``plotly_chart``, ``audio``, ``image``...)."""
    return list(at.get(kind))


def wait_for_job(at: AppTest, timeout: float = 240.0):
    """Wait for the background training job of the session, then rerun until the page shows its end."""
    from app_support.state import TRAIN_JOB

    job = at.session_state[TRAIN_JOB]
    start = time.perf_counter()
    while job.alive and time.perf_counter() - start < timeout:
        job.join(0.5)
        at.run()  # the fragment re-renders the live curves on each run
    assert not job.alive, f"training did not finish within {timeout} s"
    at.run()
    return job


def wait_for_offline(at: AppTest, slot: str, timeout: float = 240.0) -> AppTest:
    """Wait for the page's background offline job ``slot`` (``"hardware.advise"``: its button's key less ``.run``),
    then rerun as its polling fragment would, until the page has taken its result."""
    try:
        _, job = at.session_state[f"{slot}.job"]
    except KeyError:  # finished and taken already
        return at
    job.join(timeout)
    assert not job.alive, f"{slot} did not finish within {timeout} s"
    at.run()
    return at


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV bytes of a waveform."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def wait_for_text(at: AppTest, text: str, timeout: float = 240.0) -> AppTest:
    """Rerun the page (as its polling fragment would) until ``text`` shows, e.g. after a background job."""
    start = time.perf_counter()
    while text not in texts(at) and time.perf_counter() - start < timeout:
        assert not at.exception, [e.value for e in at.exception]
        time.sleep(1.0)
        at.run()
    assert text in texts(at), f"{text!r} did not show within {timeout} s:\n{texts(at)[:2000]}"
    return at

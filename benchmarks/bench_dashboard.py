"""Row 6, dashboard start: ``python -m benchmarks --only dashboard``.

A fresh ``streamlit run app.py`` (headless, a free local port) is timed from process start until
the first page is served (``GET /`` answers 200, target <= 5 s) and until the Overview has rendered
in headless Chromium (playwright; its title shown, the script finished and no element left a skeleton), twice: a warm restart
(the home already holds the demo corpus and the run store; target <= 3 s) and a first start on a fresh
``QSER_HOME`` (target <= 5 s: the corpus is synthesised in the background while the page shows its
progress). The reference is a bare one-line Streamlit app started and opened the same way in the same
run: the floor that Streamlit itself sets on this machine. The Live demo row opens ``/live`` on a
fresh ``QSER_HOME`` from the Overview's sidebar as soon as the server answers, uploads one clip and times
from the click until both default models have predicted (target <= 10 s: the default models ship with the dashboard,
nothing trains). Without Chromium or playwright the rendered rows are skipped.
"""

from __future__ import annotations

import contextlib

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import ROOT, log, median, row, skipped

CHROMIUM = Path("/usr/bin/chromium")
#: Rendered: the script has finished and no element is still a skeleton (Streamlit draws one while it fetches the
#: code of an element type the page has not shown before: the script's end alone came ~1 s before the Overview was
#: drawn, measured with playwright).
RENDERED = ("() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'"
            " && document.querySelectorAll('[data-testid=stSkeleton]').length === 0")
TIMEOUT_S = 120.0


def run(quick: bool) -> list[dict]:
    """Served and rendered rows; ``quick`` starts each server once with no browser, the full run three times."""
    repeat = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="qser-bench-dash-") as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text('import streamlit as st\n\nst.title("bare")\n', encoding="utf-8")
        ours, ref, first, live = [], [], [], []
        # --quick: no browser (its start and the Overview's first render are ~15 s of a one-minute pass)
        with (contextlib.nullcontext(None) if quick else _browser()) as browser:
            _warm_home()
            for i in range(repeat):  # interleaved, so both see the same machine load
                ours.append(_cold_start(ROOT / "app.py", "QSER Lab", browser))
                ref.append(_cold_start(bare, "bare", browser))
                if browser is not None:
                    first.append(_cold_start(ROOT / "app.py", "QSER Lab", browser, home=Path(tmp) / f"fresh-{i}"))
                    live.append(_first_prediction(browser, home=Path(tmp) / f"live-{i}"))
    served, ref_served = median([o["served"] for o in ours]), median([r["served"] for r in ref])
    log(f"dashboard: served after {served:.2f} s (bare app {ref_served:.2f} s)")
    rows = [row("dashboard cold start: first page served", value=served, unit="s",
                reference="bare one-line Streamlit app, same flags", reference_value=ref_served,
                ratio=ref_served / served, target=("<=", 5, "value"), repeats=repeat, runs=ours, reference_runs=ref)]
    if browser is None:
        why = "not run with --quick (needs a browser start)" if quick else _no_browser_reason()
        rows.append(skipped("dashboard cold start: Overview rendered", why, unit="s"))
        rows.append(skipped(LIVE_ROW, why, unit="s"))
    else:
        rendered, ref_rendered = median([o["rendered"] for o in ours]), median([r["rendered"] for r in ref])
        rows.append(row("dashboard: Overview rendered (warm restart)", value=rendered, unit="s",
                        reference="bare one-line Streamlit app rendered, same browser", reference_value=ref_rendered,
                        ratio=ref_rendered / rendered, target=("<=", 3, "value"), repeats=repeat))
        fresh = median([o["rendered"] for o in first])
        rows.append(row("dashboard: Overview rendered (first start, fresh QSER_HOME)", value=fresh, unit="s",
                        reference="bare one-line Streamlit app rendered, same browser", reference_value=ref_rendered,
                        ratio=ref_rendered / fresh, target=("<=", 5, "value"), repeats=repeat, runs=first))
        predicted = median(live)
        log(f"dashboard: Live demo's first prediction {predicted:.2f} s after the page opened (fresh home)")
        rows.append(row(LIVE_ROW, value=predicted, unit="s", target=("<=", 10, "value"), repeats=repeat, runs=live))
    return rows


LIVE_ROW = "dashboard: Live demo's first prediction after the page opens (fresh QSER_HOME)"


def _first_prediction(browser, *, home: Path) -> float:
    """Seconds from opening the Live demo on a fresh home's new server to both default models' predictions shown."""
    from benchmarks.common import clips

    with _server(ROOT / "app.py", home=home) as url:
        page = browser.new_page()
        try:
            page.goto(url)  # the Overview, as a new user starts; then the sidebar's link, as they go on
            page.locator('[data-testid="stSidebarNav"]').get_by_text("Live demo").wait_for(timeout=TIMEOUT_S * 1000)
            start = time.perf_counter()
            page.locator('[data-testid="stSidebarNav"]').get_by_text("Live demo").click()
            page.get_by_role("tab", name="Upload a file").click(timeout=TIMEOUT_S * 1000)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(clips(1)[0])
            page.get_by_text("prediction took").nth(1).wait_for(timeout=TIMEOUT_S * 1000)
            return round(time.perf_counter() - start, 3)
        finally:
            page.close()


def _cold_start(script: Path, title: str, browser, *, home: Path | None = None) -> dict[str, float]:
    """Seconds from ``streamlit run`` to ``GET /`` served, and to ``title`` rendered with the script done.

    ``home``: a ``QSER_HOME`` for this start (a fresh folder: the first start of a new user); else the caller's.
    """
    start = time.perf_counter()
    with _server(script, home=home) as url:
        out = {"served": time.perf_counter() - start}
        if browser is not None:
            page = browser.new_page()
            try:
                page.goto(url)
                page.get_by_role("heading", name=title).first.wait_for(timeout=TIMEOUT_S * 1000)
                page.wait_for_function(RENDERED, timeout=TIMEOUT_S * 1000)
                out["rendered"] = time.perf_counter() - start
            finally:
                page.close()
        return {k: round(v, 3) for k, v in out.items()}


@contextmanager
def _server(script: Path, *, home: Path | None = None):
    """``streamlit run script`` (headless, a free port) until served; yields its URL, stops it on exit."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    if home is not None:
        env["QSER_HOME"] = str(home)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_served(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _warm_home() -> None:
    """What a first start leaves in ``QSER_HOME``: the demo corpus and the run store."""
    from qser_core.data.demo import demo_corpus_dir
    from qser_core.tracking.reader import list_runs

    demo_corpus_dir()
    list_runs()


def _wait_served(url: str, server: subprocess.Popen) -> None:
    deadline = time.perf_counter() + TIMEOUT_S
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise TimeoutError(f"streamlit did not serve {url} within {TIMEOUT_S:.0f} s")


@contextmanager
def _browser():
    """Headless Chromium through playwright, started before any timing; None where either is missing."""
    if _no_browser_reason():
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


def _no_browser_reason() -> str:
    if not CHROMIUM.exists():
        return f"not available: {CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "not available: playwright is not installed (pip install -e .[test])"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

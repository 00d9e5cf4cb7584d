"""AppTest of the Embeddings and PCA page."""

from __future__ import annotations

from app_harness import assert_clean, elements, open_page, texts


def _extracted(config):
    at = open_page("pages/embeddings.py", config=config)
    if any(b.key == "embeddings.extract" for b in at.button):
        at.button(key="embeddings.extract").click()
        at.run()
    return at


class TestEmbeddingsPage:
    def test_extract_then_scatter(self, demo_config):
        at = _extracted(demo_config)
        assert_clean(at)
        assert len(elements(at, "plotly_chart")) == 2  # explained variance + scatter
        assert "→ 4 components" in texts(at)

    def test_slider_changes_qubits(self, demo_config):
        at = _extracted(demo_config)
        at.slider(key="embeddings.reduce.n_qubits").set_value(6)
        at.run()
        assert_clean(at)
        assert at.session_state["config"].reduce.n_qubits == 6
        assert "→ 6 components" in texts(at)
        at.toggle(key="embeddings.three_d").set_value(True)
        at.run()
        assert_clean(at)

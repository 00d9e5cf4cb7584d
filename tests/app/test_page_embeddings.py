"""AppTest of the Embeddings and PCA page."""

from __future__ import annotations

import pytest

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
        assert len(elements(at, "plotly_chart")) == 3  # explained variance, scatter, angles
        shown = texts(at)
        assert "→ 4 components" in shown and "What the circuit receives" in shown
        assert "mean ± 3 standard deviations over the training clips" in shown  # the reducer's map, not min-max
        assert "range of the training clips" not in shown

    @pytest.mark.slow  # extracts the whole corpus from the page
    def test_count_is_complete_right_after_extraction(self, demo_config, tmp_path):
        config = demo_config.replace("embedding", backbone="random-cnn", cache_dir=str(tmp_path))
        at = open_page("pages/embeddings.py", config=config)
        caption = next(c.value for c in at.caption if c.value.startswith("Embedding cache"))
        total = int(caption.split(" of ")[1].split()[0])
        assert caption.startswith("Embedding cache for random-cnn: 0 of")
        at.button(key="embeddings.extract").click()
        at.run()
        assert_clean(at)
        assert f"random-cnn: {total} of {total} clips" in texts(at)
        assert not any(b.key == "embeddings.extract" for b in at.button)

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

"""AppTest of the Hardware page: plan (transpiled circuit, QPU estimate), offline dispatch with confirmation, results."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, elements, open_page, texts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from qser_core.config import QserConfig
    from qser_core.experiments.single import train_model

    config = QserConfig().with_overrides(["reduce.n_qubits=3", "head.n_layers=1", "train.epochs=2"])
    return str(train_model(config, track=False).save(tmp_path_factory.mktemp("page") / "model"))


class TestHardwarePage:
    def test_without_a_model_says_what_to_do(self):
        at = open_page("pages/hardware.py")
        assert_clean(at)
        assert "no IBM Quantum account is needed" in texts(at)

    @pytest.mark.slow
    def test_plan_dispatch_and_results(self, model_dir, monkeypatch, tmp_path):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
        at = open_page("pages/hardware.py", **{"hardware.model": model_dir, "hardware.shots": 64,
                                               "hardware.clips": 6})
        assert_clean(at)
        labels = {m.label: m.value for m in at.metric}
        assert int(labels["Clips in the job"]) == 6 and "QPU time estimate" in labels
        assert at.button(key="hardware.dispatch").disabled  # confirmation first
        at.checkbox(key="hardware.confirm").check().run()
        at.button(key="hardware.dispatch").click().run()
        assert_clean(at)
        labels = {m.label: m.value for m in at.metric}
        assert "Same prediction as ideal" in labels
        assert len(elements(at, "plotly_chart")) >= 3

"""AppTest of the Hardware page: model from recorded runs or a folder, plan (transpiled circuit, QPU estimate),
offline dispatch with confirmation, results."""

from __future__ import annotations

import pytest

from app_harness import assert_clean, elements, open_page, texts, wait_for_offline
from factories import UNTRACKED, TRACKED

SMALL = ["reduce.n_qubits=3", "head.n_layers=1", "train.epochs=2"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from qser_core.config import QserConfig
    from qser_core.experiments.protocols.single import train_model

    config = QserConfig().with_overrides(SMALL)
    return str(train_model(config, context=UNTRACKED).save(tmp_path_factory.mktemp("page") / "model"))


@pytest.fixture
def run_store(monkeypatch, tmp_path):
    """An empty run store of this test (the demo corpus and its embeddings stay in the session's QSER_HOME)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "hardware-page")


class TestHardwarePage:
    def test_without_a_model_says_what_to_do(self, run_store):
        at = open_page("pages/hardware.py")
        assert_clean(at)
        shown = texts(at)
        assert "no IBM Quantum account is needed" in shown
        assert "No recorded training run with a quantum head yet" in shown

    def test_offers_recorded_quantum_models_only(self, run_store):
        from qser_core.config import QserConfig
        from qser_core.experiments.protocols.single import train_model

        config = QserConfig().with_overrides(SMALL)
        quantum = train_model(config, context=TRACKED)
        classical = train_model(config.replace("head", kind="logreg"), context=TRACKED)
        at = open_page("pages/hardware.py", **{"hardware.shots": 64, "hardware.clips": 6})
        assert_clean(at)
        picker = at.selectbox(key="hardware.run")
        assert picker.options == [picker.format_func(quantum.run_id)] and picker.value == quantum.run_id
        assert not any(classical.run_id[:8] in option for option in picker.options)
        assert "1 recorded model without a quantum head is not listed" in texts(at)
        labels = {m.label: m.value for m in at.metric}
        assert int(labels["Clips in the job"]) == 6 and int(labels["Two-qubit gates"]) > 0

    def test_transpiler_seeds_reach_the_plan(self, model_dir, run_store):
        at = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                               "hardware.shots": 64, "hardware.clips": 6, "hardware.trials": 3})
        assert_clean(at)
        gates = next(m for m in at.metric if m.label == "Two-qubit gates")
        assert "fewest of 3 transpiler seeds" in gates.help

    @pytest.mark.slow
    @pytest.mark.parametrize("primitive, readout", [("estimator", "none"), ("sampler", "mthree")])
    def test_plan_dispatch_and_results(self, model_dir, monkeypatch, tmp_path, primitive, readout):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store.db'}")
        at = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                               "hardware.shots": 64, "hardware.clips": 6,
                                               "hardware.primitive": primitive, "hardware.readout": readout})
        assert_clean(at)
        labels = {m.label: m.value for m in at.metric}
        assert int(labels["Clips in the job"]) == 6 and "QPU time on the device" in labels
        button = at.button(key="hardware.dispatch")
        assert button.label.startswith("Simulate 6 clips × 64 shots offline") and "Send" not in texts(at)
        button.click().run()
        assert_clean(at)
        labels = {m.label: m.value for m in at.metric}
        assert "Same prediction as ideal" in labels
        assert len(elements(at, "plotly_chart")) >= 3
        assert f"{primitive} · 64 shots · readout mitigation {readout}" in texts(at)
        table = at.dataframe[0].value
        assert str(table["submitted"].iloc[0]).endswith("UTC") and table["shots"].iloc[0] == 64
        shown = at.selectbox(key="hardware.show")
        assert "64 shots · λ 1.0" in shown.format_func(shown.value)
        if primitive == "estimator":  # the noise curve: per-point intervals, axis titles, progress
            at.button(key="hardware.curve.noise_scale.run").click().run()
            wait_for_offline(at, "hardware.curve.noise_scale")
            assert_clean(at)
            figure = elements(at, "plotly_chart")[-1].proto.spec
            assert '"error_y"' in figure and "noise scale" in figure and "unweighted accuracy" in figure
            assert "that gap is shot noise" in texts(at)


class TestAccountOnThePage:
    @pytest.mark.slow  # logs in, refreshes and fetches through stand-in services: end to end
    def test_typed_key_serves_refresh_and_never_shows(self, model_dir, run_store, monkeypatch):
        from qser_core.hardware import backends
        from tests.hardware.standins import SECRET, StandInService, record_hardware_job

        record_hardware_job("job-page-1")
        service = StandInService()
        used = []
        monkeypatch.setattr(backends, "connect", lambda token=None, instance=None: used.append(token) or service)
        at = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                               "hardware.shots": 64, "hardware.clips": 6})
        at.toggle(key="hardware.ibm").set_value(True).run()
        at.text_input(key="hardware.key").input(SECRET).run()
        at.button(key="hardware.connect").click().run()
        assert used == [SECRET]
        device = at.selectbox(key="hardware.account_backend")
        assert device.value == "ibm_marrakesh" and "queue 3" in device.format_func(device.value)  # least busy
        assert "QPU time estimate" in {m.label for m in at.metric}
        service.fail = True  # every later call raises with the key in its text
        at.button(key="hardware.refresh").click().run()
        assert at.error and all(SECRET not in e.value for e in at.error)
        assert "[key hidden]" in " ".join(e.value for e in at.error)
        assert SECRET not in texts(at)


class TestSameCountAsCircuitPage:
    def test_both_pages_show_the_same_two_qubit_gates_for_the_head(self, model_dir, run_store):
        from qser_core.config import QserConfig

        hardware = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                                     "hardware.shots": 64, "hardware.clips": 6})
        circuit = open_page("pages/circuit.py", config=QserConfig().with_overrides(SMALL))
        assert_clean(hardware)
        assert_clean(circuit)
        on_hardware = next(m for m in hardware.metric if m.label == "Two-qubit gates")
        on_circuit = [m for m in circuit.metric if m.label == "Two-qubit gates"][-1]  # the transpiled count
        assert on_hardware.value == on_circuit.value and on_hardware.help == on_circuit.help
        assert on_circuit.help.startswith("fewest of 8 transpiler seeds")


def _train(config, **head):
    from qser_core.experiments.protocols.single import train_model

    return train_model(config.replace("head", **head) if head else config, context=TRACKED)


class TestShotsAdvisor:
    def test_advice_from_the_page_sets_the_shots(self, model_dir, run_store):
        at = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                               "hardware.shots": 1024, "hardware.clips": 6,
                                               "hardware.advise.shots": [64, 512], "hardware.advise.target": 50})
        assert_clean(at)
        assert "ibm_fez's offline calibration snapshot" in texts(at)
        at.button(key="hardware.advise.run").click().run()
        wait_for_offline(at, "hardware.advise")
        assert_clean(at)
        labels = {m.label: m.value for m in at.metric}
        assert labels["Recommended shots"] in ("64", "512") and int(labels["Test clips in 600 QPU s"]) > 6
        assert "open plan (10 min)" in texts(at)
        figure = next(e for e in elements(at, "plotly_chart") if "agreement target" in e.proto.spec).proto.spec
        assert "ideal UA 95% interval" in figure and '"error_y"' in figure and "shots per clip" in figure
        recommended = int(labels["Recommended shots"])
        at.button(key="hardware.advise.apply").click().run()
        assert_clean(at)
        assert at.select_slider(key="hardware.shots").value == recommended
        assert at.button(key="hardware.dispatch").label.startswith(f"Simulate 6 clips × {recommended} shots")
        # kept across reruns under the settings that produced it (the shots slider is not one of them)
        assert {m.label: m.value for m in at.metric}["Recommended shots"] == str(recommended)


class TestOfflineJobsStop:
    def test_stop_while_the_advice_runs_says_so_and_keeps_the_page(self, model_dir, run_store):
        from app_support.background import CallJob
        from test_background import _until_stopped

        at = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                               "hardware.shots": 64, "hardware.clips": 6})
        assert_clean(at)
        # a job as the advisor's button starts it, whose Stop cannot race with its end (the real advice's Stop is
        # tests/hardware/test_noise_aware.py::TestStop): running, the panel shows its progress and a Stop
        at.session_state["hardware.advise.job"] = ("advice key", CallJob(_until_stopped).start())
        at.run()
        assert_clean(at)
        assert at.button(key="hardware.advise.run").disabled
        assert any("0 / 2 offline jobs done · first step" in p.proto.text for p in elements(at, "progress"))
        at.button(key="hardware.advise.stop").click().run()
        wait_for_offline(at, "hardware.advise")
        assert_clean(at)
        assert [w.value for w in at.warning if w.value == "Stopped: stopped after 1 of 2 steps; start again"]
        assert not at.button(key="hardware.advise.run").disabled  # ready for the next run, which clears the note
        assert "advice key" not in at.session_state["hardware.advise.results"]


class TestNoiseAwareComparison:
    def test_without_a_partner_says_how_to_train_one(self, model_dir, run_store):
        at = open_page("pages/hardware.py", **{"hardware.source": "folder", "hardware.model": model_dir,
                                               "hardware.shots": 64, "hardware.clips": 6})
        assert_clean(at)
        shown = texts(at)
        assert "No recorded noise-aware quantum model with the same data and split settings" in shown
        assert "**Noise-aware PQC** ticked" in shown
        assert "qser train --set reduce.n_qubits=3 --set head.n_layers=1" in shown and "head.noise_aware=true" in shown
        at.text_input(key="hardware.partner_folder").input(model_dir).run()  # itself: trained the same way
        assert [e.value for e in at.error] and "trained the same way" in at.error[0].value  # said before any job
        assert not [b for b in at.button if b.key == "hardware.compare.run"]

    def test_both_heads_drawn_with_the_paired_difference_and_verdict(self, run_store):
        from qser_core.config import QserConfig

        config = QserConfig().with_overrides(SMALL)
        ideal = _train(config)
        aware = _train(config, noise_aware=True, noise_backend="ibm_torino")
        other_split = _train(config.replace("data", split_seed=1), noise_aware=True)  # other test clips: not offered
        at = open_page("pages/hardware.py", **{"hardware.run": ideal.run_id, "hardware.shots": 64,
                                               "hardware.clips": 6, "hardware.recal": 4})
        assert_clean(at)
        partner = at.selectbox(key="hardware.partner")
        assert partner.label.startswith("Noise-aware partner") and partner.options == [partner.format_func(aware.run_id)]
        assert other_split.run_id[:8] not in " ".join(partner.options)
        at.button(key="hardware.compare.run").click().run()
        wait_for_offline(at, "hardware.compare")
        assert_clean(at)
        figure = next(e for e in elements(at, "plotly_chart") if "noise-aware" in e.proto.spec).proto.spec
        assert '"ideal-trained"' in figure and '"error_y"' in figure and "noise scale" in figure
        table = at.dataframe[0].value
        assert list(table["λ"]) == [0.5, 1.0, 2.0]
        assert table["noise-aware − ideal [95%]"].str.match(r"[+-]\d\.\d{3} \[").all()
        assert table["noise-aware recalibrated UA [95%]"].str.contains(r"\[").all()
        assert (table["p (paired bootstrap)"].between(0, 1)).all()
        assert any(e.value.startswith("**Verdict:**") for e in at.info)
        # from the noise-aware side, the partner is the ideal-trained head
        at.selectbox(key="hardware.run").set_value(aware.run_id).run()
        assert_clean(at)
        partner = at.selectbox(key="hardware.partner")
        assert partner.label.startswith("Ideal-trained partner") and partner.value == ideal.run_id

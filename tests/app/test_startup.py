"""The dashboard's start-up job and the Live demo's default models (app_support/startup.py)."""

from __future__ import annotations

import shutil
import time

import pytest

import app_harness  # noqa: F401  (puts the repo root on sys.path for app_support)
from app_support import startup
from qser_core.config import QserConfig


class TestStartupJob:
    def test_steps_finish_in_order_without_default_models(self, demo_config):
        job = startup.StartupJob(demo_config)
        job.page_drawn.set()  # as app.py does once a page is drawn
        job.start().join(600)
        snap = job.snapshot()
        assert snap.status == "done" and snap.error == ""
        assert all(job.ready(step) for step in startup.STEPS)

    def test_a_failing_later_step_never_fails_the_start(self, demo_config):
        def broken(config):
            raise RuntimeError("no models today")

        job = startup.StartupJob(demo_config, after=broken)
        job.page_drawn.set()
        job.start().join(600)
        assert job.snapshot().status == "done" and job.later_error == "no models today"

    def test_a_warm_start_indexes_and_opens_the_store_after_the_first_page(self, demo_config):
        from qser_core.data.demo import demo_corpus_ready

        assert demo_corpus_ready()  # the fixture synthesised it: a warm restart
        job = startup.StartupJob(demo_config).start()
        assert not job.ready("corpus", wait=0.5) and job.corpus is None  # pandas and the folder wait for the page
        job.page_drawn.set()
        assert job.ready("corpus", wait=300) and len(job.corpus.table) > 0
        assert job.ready("runs", wait=300)
        job.join(600)
        assert job.snapshot().status == "done"


class TestDefaultModels:
    def test_the_shipped_models_are_those_of_the_default_settings(self):
        key = startup.models_key(QserConfig())
        assert (startup.SHIPPED / key).is_dir(), (
            "the default settings changed: refresh the shipped default models with `python -m app_support.startup`")
        assert sorted(p.name for p in startup.SHIPPED.iterdir()) == [key], "stale shipped models are left"

    def test_a_fresh_home_loads_the_shipped_models(self, tmp_path, monkeypatch):
        monkeypatch.setenv("QSER_HOME", str(tmp_path / "fresh"))
        models = startup.load_default_models(QserConfig())
        assert models is not None and set(models) == set(startup.DEFAULT_HEADS)
        assert models["quantum"].config.head.kind == "quantum" and not models["quantum"].config.train.tune

    def test_hardware_settings_do_not_change_the_models(self):
        config = QserConfig()
        assert startup.models_key(config) == startup.models_key(config.replace("hardware", shots=64))
        assert startup.models_key(config) != startup.models_key(config.replace("reduce", n_qubits=4))

    def test_trained_once_then_loaded_from_disk(self, demo_config, tmp_path, monkeypatch):
        small = demo_config.replace("reduce", n_qubits=3)
        folder = startup.default_models_dir(small)
        shutil.rmtree(folder, ignore_errors=True)
        first = startup.default_models_job(small)
        first.join(600)
        assert first.snapshot().status == "done", first.snapshot().error
        assert all((folder / head / "manifest.json").is_file() for head in startup.DEFAULT_HEADS)
        again = startup.DefaultModelsJob(startup.default_models_config(small)).start()
        again.join(60)
        assert again.snapshot().status == "done" and not again.snapshot().logs["quantum"]  # loaded, not trained
        assert set(again.snapshot().results) == set(startup.DEFAULT_HEADS)

    @pytest.mark.parametrize("damage", ["manifest.json"])
    def test_a_damaged_saved_model_is_trained_again(self, demo_config, damage):
        small = demo_config.replace("reduce", n_qubits=3)
        startup.default_models_job(small).join(600)
        (startup.default_models_dir(small) / "quantum" / damage).write_text("{}")
        assert startup.load_default_models(small) is None


class TestFailedStart:
    def test_a_failed_start_shows_the_corpus_message_not_a_stale_one(self, tmp_path):
        from app_harness import open_page

        from qser_core.config import QserConfig

        missing = QserConfig().replace("data", dataset="crema-d", data_dir=str(tmp_path / "gone"))
        job = startup.StartupJob(missing).start()
        job.join(60)
        assert job.snapshot().status == "failed"
        at = open_page(config=missing)  # the page indexes the corpus itself and shows the corpus's own message
        deadline = time.monotonic() + 60
        while not at.error and time.monotonic() < deadline:  # the page's own start-up job fails, the fragment sees it
            time.sleep(0.2)
            at.run()
        assert not at.exception and at.error and "gone" in at.error[0].value

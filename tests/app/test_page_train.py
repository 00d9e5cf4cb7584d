"""AppTest of the Train page: two epochs of two heads in the background thread, Stop, results."""

from __future__ import annotations

import time

import pytest

from app_harness import assert_clean, elements, open_page, texts, wait_for_job, wav_bytes
from factories import TWO_VALUE_INTERVALS

pytestmark = TWO_VALUE_INTERVALS


def _demo_path(config) -> str:
    from qser_core.data.corpus import load_corpus

    return load_corpus(config.data).table["path"].iloc[0]


@pytest.mark.slow
class TestTrainPage:
    def test_two_epochs_then_results(self, demo_config):
        at = open_page("pages/train.py", config=demo_config.replace("train", epochs=50))
        assert_clean(at)
        at.number_input(key="train.train.epochs").set_value(2)  # the widget edits the session's config
        at.run()
        assert at.session_state["config"].train.epochs == 2
        at.multiselect(key="train.heads").set_value(["logreg", "quantum"])
        at.button(key="train.start").click()
        at.run()
        assert_clean(at)
        job = wait_for_job(at)
        snap = job.snapshot()
        assert snap.status == "done", snap.error
        # live curves saw every epoch (logreg is one exact scikit-learn solve: one step)
        assert [len(snap.logs[h]) for h in ("logreg", "quantum")] == [1, 2]
        assert_clean(at)
        table = at.dataframe[0].value
        assert list(table["head"]) == ["logreg", "quantum"]
        assert table["run_id"].notna().all()  # recorded with MLflow
        assert len(elements(at, "plotly_chart")) == 2 + 2  # quantum's curves (logreg: its result) + confusions
        paired = at.dataframe[1].value  # the runner's paired test of each head against the quantum head
        assert list(paired["head"]) == ["logreg"] and paired["clips"].iloc[0] == snap.paired["logreg"]["n_clips"]
        shown = texts(at)
        assert shown.count("finished at epoch 2 · best val UA") == 1  # quantum
        assert "finished: one exact solve per candidate · best val UA" in shown  # logreg: no epochs, no curves
        assert "epoch 1 / " not in shown and {m.label for m in at.metric} >= {"validation UA", "test UA"}
        assert list(table.columns[:4]) == ["head", "ua", "wa", "macro_f1"] and set(table["status"]) == {"finished"}
        assert len(elements(at, "download_button")) >= 2 * 2 + 1  # model + confusion per head, and the config

        # the Live demo page can use the models just trained
        from qser_core.data.audio import read_audio

        y, sr = read_audio(_demo_path(demo_config), sr=16000)
        at.switch_page("pages/live.py").run()
        at.selectbox(key="live.models").set_value("train")
        at.audio_input(key="live.record").set_value(("clip.wav", wav_bytes(y, sr), "audio/wav"))
        at.run()
        assert_clean(at)
        assert texts(at).count("prediction took") == 2

    def test_stop_really_stops(self, demo_config):
        from app_support.jobs import BOARD

        at = open_page("pages/train.py", config=demo_config.replace("train", epochs=5000, patience=5000))
        at.multiselect(key="train.heads").set_value(["quantum", "logreg"])  # quantum first: logreg never runs
        at.button(key="train.start").click()
        at.run()
        job = at.session_state["train_job"]
        assert at.button(key="train.start").disabled, "Train must be disabled while a job runs"
        start = time.perf_counter()
        while len(job.snapshot().logs["quantum"]) < 2 and time.perf_counter() - start < 120:
            time.sleep(0.2)  # let the library's training loop get going
        at.run()
        shown = texts(at)
        assert "epoch " in shown and " / 5000 · best val UA " in shown and "left" in shown  # per-head progress
        assert "Waiting for its turn" in shown  # logreg: no empty charts
        at.switch_page("pages/overview.py").run()  # training carries on while another page is open
        assert job.alive and "in the background" in at.sidebar.info[0].value
        at.switch_page("pages/train.py").run()
        assert at.session_state["train_job"] is job and job.alive
        assert at.multiselect(key="train.heads").value == ["quantum", "logreg"]  # the running job's heads
        assert_clean(at)

        other = open_page("pages/train.py", config=demo_config)  # another tab: it sees the job and can stop it
        assert other.session_state["train_job"] is job
        entry = BOARD.find(job)
        assert entry is not None and entry.id in texts(other)
        other.button(key=f"train.stop.{entry.id}").click()
        other.run()
        wait_for_job(at, timeout=60)
        snap = job.snapshot()
        assert snap.status == "stopped"
        assert 2 <= len(snap.logs["quantum"]) < 5000
        assert snap.results["quantum"].metrics["cancelled"]  # the loop saw the token; best weights were scored
        assert "logreg" not in snap.results
        assert_clean(at)
        table = at.dataframe[0].value
        assert list(table["head"]) == ["quantum"] and list(table["status"]) == ["stopped"]
        shown = texts(at)
        assert "Never ran: the job was stopped before this head's turn" in shown
        assert "Stopped: a head marked *stopped*" in shown
        assert not at.button(key="train.start").disabled

    def test_cross_validation_shows_intervals(self, demo_config):
        at = open_page("pages/train.py", config=demo_config)
        at.multiselect(key="train.heads").set_value(["logreg"])
        at.radio(key="train.mode").set_value("cross-validation")
        at.run()
        at.button(key="train.start").click()
        at.run()
        job = wait_for_job(at)
        assert job.snapshot().status == "done", job.snapshot().error
        assert_clean(at)
        assert "[" in at.dataframe[0].value["ua"].iloc[0]  # mean [low, high]

    def test_bad_seeds_are_a_message(self, demo_config):
        at = open_page("pages/train.py", config=demo_config)
        at.text_input(key="train.train.seeds").set_value("0, one")
        at.run()
        assert not at.exception
        assert at.session_state["config"].train.seeds == (0,)
        assert "train.seeds must be a list of integers; got '0, one'" in at.error[0].value  # not Python's message


def _search_at(job, candidate: int, epochs: int, timeout: float = 400.0):
    """Wait until the quantum head's search trains ``candidate`` and has finished ``epochs`` of its epochs."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout and job.alive:
        search = job.snapshot().search.get("quantum")
        if search and search["event"].candidate == candidate and len(search["rows"]) >= epochs:
            return search
        time.sleep(0.2)
    raise AssertionError(f"the quantum head's search never reached candidate {candidate}, epoch {epochs}")


@pytest.mark.slow
class TestDefaultSettings:
    """The Train page as a new user meets it: DEFAULT settings (logreg + quantum, tuning search on), Stop mid-search
    (issue 19, Broken 2 and 4)."""

    def test_search_is_live_and_stop_inside_it_is_a_stop(self):
        from qser_core.tracking.reader import load_run

        at = open_page("pages/train.py")
        assert at.multiselect(key="train.heads").value == ["logreg", "quantum"]
        assert at.session_state["config"].train.tune  # the default: a 4-candidate search per head
        at.button(key="train.start").click()
        at.run()
        job = at.session_state["train_job"]
        start = time.perf_counter()
        while not job.snapshot().search.get("quantum") and job.alive and time.perf_counter() - start < 400:
            time.sleep(0.2)
        at.run()  # the quantum head's first event came before its first epoch ended
        shown = texts(at)
        assert "quantum" in shown and "tuning search: candidate 1 / 4 (lr 0.01, layers 1) · epoch " in shown
        assert "finished: one exact solve per candidate · best val UA" in shown  # logreg: done, no curves
        _search_at(job, candidate=1, epochs=3)
        at.run()
        shown = texts(at)
        assert "tuning search: candidate 1 / 4" in shown and "best val UA so far" in shown and "left" in shown
        assert len(elements(at, "plotly_chart")) == 2  # the live curves of the candidate in training
        assert_clean(at)
        _search_at(job, candidate=2, epochs=2)
        at.run()
        assert "tuning search: candidate 2 / 4 (lr 0.01, layers 2)" in texts(at)
        at.button(key="train.stop").click()
        at.run()
        wait_for_job(at, timeout=120)
        snap = job.snapshot()
        assert snap.status == "stopped" and snap.results["quantum"].metrics["cancelled"]
        assert not snap.paired and "no paired tests" in snap.paired_note
        assert_clean(at)
        table = at.dataframe[0].value  # the results table (and no paired-test table after it)
        assert list(table["head"]) == ["logreg", "quantum"] and list(table["status"]) == ["finished", "stopped"]
        assert "candidate 2 / 4" in table["note"].iloc[1]
        shown = texts(at)
        assert "finished: one exact solve per candidate · chose weight decay" in shown  # logreg's choice
        assert "STOPPED: stopped by the user in candidate 2 / 4 (lr 0.01, layers 2) at epoch " in shown
        assert "No paired tests: the run was stopped" in shown and len(at.dataframe) == 1
        record = load_run(snap.results["quantum"].run_id)
        assert record["qser_status"] == "stopped" and "candidate 2 / 4" in record["reason"]


HYBRID_ROWS = ["frozen backbone + PQC head", "hybrid: last 2 block(s) + reduction + PQC", "gain (hybrid − frozen)"]


@pytest.mark.slow
class TestHybridProtocol:
    """The third protocol: backbone tail + reduction + PQC end to end, against the frozen-backbone PQC head."""

    def test_frozen_and_hybrid_curves_then_table(self, demo_config):
        at = open_page("pages/train.py", config=demo_config)
        at.radio(key="train.mode").set_value("hybrid")
        at.run()
        assert_clean(at)
        assert not at.multiselect  # the heads choice is replaced by the explanation
        assert "frozen-backbone PQC head" in texts(at)
        at.number_input(key="train.train.trainable_blocks").set_value(2)  # bound to the config
        at.run()
        assert at.session_state["config"].train.trainable_blocks == 2
        at.button(key="train.start").click()
        at.run()
        assert_clean(at)
        job = wait_for_job(at)
        snap = job.snapshot()
        assert snap.status == "done", snap.error
        assert snap.heads == ["frozen", "hybrid"]
        assert [len(snap.logs[s]) for s in snap.heads] == [2, 2]  # both curve groups saw every epoch
        assert_clean(at)
        result = snap.results["hybrid"]
        assert result.config.train.trainable_blocks == 2 and result.run_id
        table = at.dataframe[0].value
        assert list(table["model"]) == HYBRID_ROWS
        assert list(table.columns) == ["model", "UA", "WA", "macro-F1", "trainable params"]
        assert list(table["UA"])[:2] == [f"{result.baseline_metrics['ua']:.3f}", f"{result.metrics['ua']:.3f}"]
        assert table["UA"].iloc[2] == f"{result.gain['ua']:+.3f}"
        assert list(table["trainable params"])[:2] == [f"{result.baseline_params:,}", f"{result.n_params:,}"]
        assert result.n_params > result.baseline_params  # the backbone tail and the reduction train too
        page = texts(at)
        assert "frozen backbone → PQC head" in page and "hybrid: backbone tail + reduction + PQC" in page
        assert len(elements(at, "plotly_chart")) == 2 * 2 + 2  # loss + accuracy per stage, two confusions

    def test_stop_cancels_the_hybrid_run(self, demo_config):
        # two trainable blocks, as above: the frozen front computed there is reused (one per process and corpus)
        config = demo_config.replace("train", epochs=5000, patience=5000, trainable_blocks=2)
        at = open_page("pages/train.py", config=config)
        at.radio(key="train.mode").set_value("hybrid")
        at.run()
        at.button(key="train.start").click()
        at.run()
        job = at.session_state["train_job"]
        start = time.perf_counter()
        while not job.snapshot().logs["frozen"] and time.perf_counter() - start < 120:
            time.sleep(0.2)  # the frozen front, then the baseline head's first epoch
        at.run()
        assert job.alive and "hybrid model" in texts(at)  # in the list of jobs on this server
        assert not at.sidebar.info  # the sidebar does not point at the page you are on
        at.button(key="train.stop").click()
        at.run()
        wait_for_job(at, timeout=60)
        snap = job.snapshot()
        assert snap.status == "stopped"
        assert 1 <= len(snap.logs["frozen"]) < 5000 and not snap.logs["hybrid"]
        assert not at.exception and "cancelled" in " ".join(w.value for w in at.warning)

    def test_unsupported_backbone_is_a_message(self, demo_config):
        from app_support.jobs import TrainingJob
        from qser_core.errors import ConfigError
        from qser_core.experiments.models.hybrid_network import check_hybrid_config

        config = demo_config.replace("embedding", backbone="egemaps")
        with pytest.raises(ConfigError, match="egemaps") as caught:
            check_hybrid_config(config)
        at = open_page("pages/train.py", config=config)
        at.radio(key="train.mode").set_value("hybrid")
        at.run()
        assert not at.exception
        assert [e.value for e in at.error] == [str(caught.value)]  # the library's message, not a traceback
        assert at.button(key="train.start").disabled
        # the job reports the same message if it is started anyway (e.g. the backbone changed meanwhile)
        job = TrainingJob(config, [], mode="hybrid", track=False).start()
        job.join(30)
        assert job.snapshot().status == "failed" and job.snapshot().error == str(caught.value)

"""The dashboard's background call: a library call that takes ``context=``, its result, its Stop and its failure."""

from __future__ import annotations

import threading

from app_support.background import CallJob
from qser_core.errors import DataError


def _until_stopped(*, context):
    """Two steps, the second only after Stop: a call whose Stop cannot race with its end."""
    context.report(0, 2, "first step")
    while not context.cancelled:
        threading.Event().wait(0.01)
    context.check_cancelled("stopped after 1 of 2 steps; start again")


class TestCallJob:
    def test_result_and_progress_of_a_finished_call(self):
        def call(*, context):
            context.report(1, 1, "done")
            return {"points": [1, 2]}

        job = CallJob(call, track=False).start()
        job.join(10)
        snap = job.snapshot()
        assert (snap.status, snap.result, snap.progress, snap.error) == ("done", {"points": [1, 2]}, (1, 1, "done"), "")
        assert snap.finished

    def test_stop_ends_stopped_with_the_librarys_message(self):
        job = CallJob(_until_stopped).start()
        assert not job.snapshot().finished
        job.stop()
        job.join(10)
        snap = job.snapshot()
        assert snap.status == "stopped" and snap.error == "stopped after 1 of 2 steps; start again"
        assert snap.result is None

    def test_a_failure_is_a_message_not_a_traceback(self):
        def call(*, context):
            raise DataError("the model folder is damaged; train it again")

        job = CallJob(call).start()
        job.join(10)
        assert job.snapshot().status == "failed" and job.snapshot().error == "the model folder is damaged; train it again"

    def test_the_call_gets_the_jobs_tracking_choice(self):
        seen = []
        job = CallJob(lambda *, context: seen.append(context.track), track=False).start()
        job.join(10)
        assert seen == [False]

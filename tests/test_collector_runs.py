"""Named pipelines: recorded runs, pipelines as trigger tasks and as RQ jobs."""

from __future__ import annotations

from django.test import override_settings

from collector_app.jobs import enqueue_pipeline
from collector_app.models import PipelineRun
from collector_app.runs import UnknownPipelineError, run_named
from tests.support.helpers import SessionTestCase, new_uid
from tests.support.rq_helpers import reset_queues, run_burst_workers
from triggers import TriggerManager
from triggers.exceptions import ConfigurationError
from triggers.testing import TriggerTestMixin

PIPELINES = {
    "greeting": {
        "sources": [
            {"type": "tests.pipe.kwargs", "id": "trigger"},
            {"type": "tests.pipe.constant", "id": "hello", "config": {"value": "world"}},
        ],
        "aggregators": [{"type": "tests.pipe.count", "id": "count"}],
    },
    "trimmed": {
        "sources": [
            {"type": "tests.pipe.kwargs", "id": "trigger"},
            {"type": "tests.pipe.constant", "id": "hello", "config": {"value": "world"}},
        ],
        "result": ["hello"],
    },
    "broken": {
        "sources": [{"type": "tests.pipe.constant", "id": "bad", "config": {"value": "fail"}}],
    },
}
COLLECTORS = {"PIPELINES": PIPELINES, "COMPONENT_MODULES": ["tests.support.pipeline_components"]}


@override_settings(COLLECTORS=COLLECTORS, TRIGGERS={"DEFAULT_RUNNER": "sync"})
class NamedPipelines(TriggerTestMixin, SessionTestCase):
    def test_runs_are_recorded_failed_ones_too(self):
        journal = run_named("greeting")
        assert journal.passed
        self.assertEqual(journal.data["hello"], {"value": "world"})
        self.assertEqual(journal.data["count"], {"sources": 2})
        run = PipelineRun.objects.filter(pipeline="greeting").latest("started")
        self.assertEqual(run.status, "passed")
        self.assertEqual([e["id"] for e in run.journal["entries"]], ["trigger", "hello", "count"])
        broken = run_named("broken")
        self.assertFalse(broken.passed)
        stored = PipelineRun.objects.filter(pipeline="broken").latest("started")
        self.assertEqual(stored.status, "failed")
        self.assertEqual(stored.journal["entries"][0]["error_type"], "RuntimeError")

    def test_unknown_pipeline(self):
        with self.assertRaisesMessage(UnknownPipelineError, "no pipeline named 'nope'"):
            run_named("nope")

    def test_a_pipeline_as_a_trigger_task_feeds_the_next_task(self):
        self.manager = TriggerManager.for_session(new_uid("pipe-task"))
        self.manager.update_configuration(
            {
                "collect": {"after": ["start"], "run": "collector_app.pipeline:greeting"},
                "use": {"after": ["collect"], "run": "tests.support.tasks.echo"},
            }
        )
        self.manager.fire("start", {"day": "2026-11-23"})
        data = self.assertInstanceFinished("collect#0").result
        self.assertEqual(data["trigger"], {"kwargs": {"start": {"day": "2026-11-23"}}})
        seen = self.assertInstanceFinished("use#0").result["seen"]["collect"]
        self.assertEqual(seen["hello"], {"value": "world"})
        run = PipelineRun.objects.get(session_uid=self.manager.session_uid)
        self.assertEqual(run.instance, "collect#0")

    def test_a_declared_result_is_all_the_task_returns(self):
        self.manager = TriggerManager.for_session(new_uid("pipe-trim"))
        self.manager.update_configuration(
            {"collect": {"after": ["start"], "run": "collector_app.pipeline:trimmed"}}
        )
        self.manager.fire("start")
        self.assertInstanceFinished("collect#0", {"hello": {"value": "world"}})

    def test_a_failed_pipeline_fails_its_task(self):
        self.manager = TriggerManager.for_session(new_uid("pipe-fail"))
        self.manager.update_configuration(
            {"collect": {"after": ["start"], "run": "collector_app.pipeline:broken"}}
        )
        self.manager.fire("start")
        failed = self.assertInstanceFailed("collect#0", RuntimeError)
        self.assertIn("pipeline 'broken' failed", failed.metadata["exc_message"])

    def test_an_unknown_pipeline_is_a_configuration_error(self):
        manager = TriggerManager.for_session(new_uid("pipe-bad"))
        with self.assertRaisesMessage(ConfigurationError, "task 'x', directive 'run'"):
            manager.update_configuration(
                {"x": {"after": ["a"], "run": "collector_app.pipeline:nope"}}
            )

    def test_a_pipeline_as_an_rq_job_on_a_real_worker(self):
        reset_queues()
        job = enqueue_pipeline("greeting")
        self.assertEqual(job.args, ("greeting",))
        before = PipelineRun.objects.filter(pipeline="greeting").count()
        run_burst_workers(1, settings={"COLLECTORS": COLLECTORS})
        self.assertEqual(PipelineRun.objects.filter(pipeline="greeting").count(), before + 1)
        job.refresh()
        self.assertEqual(job.get_status(), "finished")

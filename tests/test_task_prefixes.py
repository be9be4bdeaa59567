"""``pipeline:<name>`` and ``gather:<name>`` tasks, and the older ``collector_app.`` forms."""

from __future__ import annotations

from unittest import mock

from django.test import override_settings

from collector_app.gathering.tasks import GatherTask
from collector_app.tasks import PipelineTask
from tests.support.helpers import SessionTestCase, new_uid
from tests.test_collector_runs import COLLECTORS
from triggers import TriggerManager
from triggers.exceptions import ConfigurationError
from triggers.task import resolve_task
from triggers.testing import TriggerTestMixin


@override_settings(COLLECTORS=COLLECTORS, TRIGGERS={"DEFAULT_RUNNER": "sync"})
class TaskPrefixes(TriggerTestMixin, SessionTestCase):
    def test_both_pipeline_spellings_resolve_to_the_same_task(self):
        for run in ("pipeline:greeting", "collector_app.pipeline:greeting"):
            with self.subTest(run):
                task = resolve_task(run)
                self.assertIsInstance(task, PipelineTask)
                self.assertEqual(task.name, "greeting")

    def test_both_gather_spellings_resolve_to_the_same_task(self):
        with mock.patch("collector_app.gathering.tasks.gatherer_for"):
            for run in ("gather:analytics", "collector_app.gather:analytics"):
                with self.subTest(run):
                    task = resolve_task(run)
                    self.assertIsInstance(task, GatherTask)
                    self.assertEqual(task.name, "analytics")

    def test_a_pipeline_task_runs_under_the_short_prefix(self):
        self.manager = TriggerManager.for_session(new_uid("prefix"))
        self.manager.update_configuration(
            {"collect": {"after": ["start"], "run": "pipeline:trimmed"}}
        )
        self.manager.fire("start", {"who": "x"})
        self.assertInstanceFinished("collect#0", {"hello": {"value": "world"}})

    def test_unknown_names_are_refused_naming_the_task(self):
        self.manager = TriggerManager.for_session(new_uid("prefix"))
        for run in ("pipeline:nope", "gather:nope"):
            with self.subTest(run), self.assertRaisesRegex(ConfigurationError, "task 'x'"):
                self.manager.update_configuration({"x": {"after": ["a"], "run": run}})

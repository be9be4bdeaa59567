"""collector_app's front door: ``collector_app.run`` (the one run path every entry point
takes), ``RunResult``, ``CollectorsError``, the command base and the lazy package exports."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from importlib.metadata import version
from io import StringIO

from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import SimpleTestCase, override_settings
from django.utils import timezone

import collector_app
import triggers
from collector_app import exceptions
from collector_app.gathering.locks import GatherLocked
from collector_app.jobs import run_pipeline
from collector_app.management.base import EXIT_BUSY, CollectorCommand
from collector_app.models import CollectorLock, PipelineRun
from collector_app.pipelines import RunResult, UnknownCollectorError
from collector_app.state import CollectorBusyError
from tests.support.helpers import SessionTestCase

PIPELINES = {
    "greeting": {
        "sources": [{"type": "tests.pipe.constant", "id": "hello", "config": {"value": "world"}}],
        "aggregators": [{"type": "tests.pipe.count", "id": "count"}],
    },
    "broken": {
        "sources": [{"type": "tests.pipe.constant", "id": "bad", "config": {"value": "fail"}}]
    },
}
CLASS_COLLECTORS = {
    "feed": {"class": "tests.support.state_collectors.Counter", "config": {"items": ["a"]}},
    "down": {"class": "tests.support.state_collectors.Failing"},
}
COLLECTORS = {
    "PIPELINES": PIPELINES,
    "CLASS_COLLECTORS": CLASS_COLLECTORS,
    "COMPONENT_MODULES": ["tests.support.pipeline_components", "tests.support.state_collectors"],
    "STATE_LOCK": "refuse",
}


def hold_elsewhere(name: str) -> None:
    """The lock row another process running collector ``name`` would hold."""
    now = timezone.now()
    CollectorLock.objects.create(
        key=name, owner="elsewhere:1:x", acquired=now, expires=now + timedelta(minutes=5)
    )


def written(path) -> dict:
    """A pipeline whose one sink writes ``path``."""
    return {
        "sources": [{"type": "tests.pipe.constant", "id": "hello", "config": {"value": "w"}}],
        "sinks": [{"type": "json_file", "id": "out", "config": {"path": str(path)}}],
    }


@override_settings(COLLECTORS=COLLECTORS)
class RunPath(SessionTestCase):
    def test_a_named_pipeline_runs_recorded_and_releases_its_lock(self):
        result = collector_app.run("greeting")
        self.assertIsInstance(result, RunResult)
        self.assertTrue(result.passed)
        self.assertEqual((result.kind, result.status), ("pipeline", "passed"))
        self.assertEqual(result.data, {"hello": {"value": "world"}, "count": {"sources": 1}})
        row = PipelineRun.objects.get(pk=result.run_id)
        self.assertEqual((row.pipeline, row.status), ("greeting", "passed"))
        self.assertEqual([e["id"] for e in row.journal["entries"]], ["hello", "count"])
        self.assertFalse(CollectorLock.objects.exists())
        self.assertEqual(json.loads(json.dumps(result.to_dict()))["status"], "passed")

    def test_a_failed_run_is_a_result_and_a_row(self):
        result = collector_app.run("broken")
        self.assertFalse(result.passed)
        self.assertIn("required source 'bad'", result.error)
        self.assertEqual(PipelineRun.objects.get(pk=result.run_id).status, "failed")

    def test_a_definition_without_record_or_sinks(self):
        out = self.tmp_path / "out.json"
        seen = []
        result = collector_app.run(
            written(out), record=False, distribute=False, listener=seen.append
        )
        self.assertTrue(result.passed)
        self.assertIsNone(result.run_id)
        self.assertFalse(PipelineRun.objects.exists())
        self.assertFalse(out.exists())
        self.assertEqual(result.journal.entry("out").status, "not-run")
        self.assertEqual([entry.id for entry in seen], ["hello", "hello"])  # start, end
        self.assertTrue(collector_app.run(written(out)).passed)
        self.assertEqual(json.loads(out.read_text()), {"hello": {"value": "w"}})

    def test_every_entry_point_takes_the_lock(self):
        hold_elsewhere("greeting")
        with self.assertRaisesMessage(CollectorBusyError, "'greeting' is being run"):
            collector_app.run("greeting")
        with self.assertRaises(CollectorBusyError):
            run_pipeline("greeting")  # the RQ job
        for command in ("collect", "run_collector"):
            with self.subTest(command), self.assertRaises(CommandError) as caught:
                call_command(command, "greeting", stdout=StringIO())
            self.assertEqual(caught.exception.returncode, EXIT_BUSY)
        self.assertFalse(PipelineRun.objects.exists())
        self.assertTrue(collector_app.run("greeting", lock=False).passed)

    def test_class_collectors(self):
        result = collector_app.run("feed")
        self.assertEqual((result.kind, result.passed, result.journal), ("class", True, None))
        failed = collector_app.run("down")
        self.assertFalse(failed.passed)
        self.assertIn("Traceback", failed.traceback)
        with self.assertRaisesMessage(ValueError, "'feed' is a class collector"):
            collector_app.run("feed", distribute=False)

    def test_an_unknown_name_is_one_clear_error(self):
        with self.assertRaisesMessage(UnknownCollectorError, "no collector named 'nope'") as c:
            collector_app.run("nope")
        self.assertIn("known: broken, down, feed, greeting", str(c.exception))
        self.assertIsInstance(c.exception, exceptions.CollectorsError)
        self.assertIsInstance(c.exception, LookupError)

    def test_run_collector_json(self):
        out = StringIO()
        call_command("run_collector", "greeting", "--json", stdout=out)
        shown = json.loads(out.getvalue())
        self.assertEqual((shown["name"], shown["status"]), ("greeting", "passed"))
        self.assertEqual(shown["run_id"], PipelineRun.objects.get().pk)


class _Raising(CollectorCommand):
    """A command whose ``handle`` raises what the test gives it."""

    error: BaseException = RuntimeError("unset")
    requires_system_checks: list = []

    def handle(self, *args, **options):
        raise self.error


class CommandBase(SimpleTestCase):
    def raised(self, error: BaseException) -> CommandError:
        command = _Raising()
        command.error = error
        with self.assertRaises(CommandError) as caught:
            call_command(command)
        return caught.exception

    def test_busy_exits_75(self):
        for error in (CollectorBusyError("x is being run"), GatherLocked("g is locked")):
            with self.subTest(type(error).__name__):
                self.assertEqual(self.raised(error).returncode, 75)

    def test_errors_are_one_line_and_exit_1(self):
        definition_error = exceptions.CollectorsError("pipeline p:\n  sources[0]: bad\n")
        for error, text in [
            (definition_error, "pipeline p: | sources[0]: bad"),
            (ImproperlyConfigured("COLLECTORS['X'] is wrong"), "COLLECTORS['X'] is wrong"),
            (CommandError("first\nsecond", returncode=3), "first | second"),
        ]:
            with self.subTest(text):
                caught = self.raised(error)
                self.assertEqual(str(caught), text)
                self.assertEqual(caught.returncode, 3 if "second" in text else 1)

    def test_other_errors_are_not_hidden(self):
        command = _Raising()
        command.error = ZeroDivisionError("a bug")
        with self.assertRaises(ZeroDivisionError):
            call_command(command)


class FrontDoor(SimpleTestCase):
    def test_importing_the_apps_imports_nothing_else(self):
        code = (
            "import json, sys; import collector_app, triggers; "
            "print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('collector_app', 'triggers', 'django', 'redis', 'rq'))))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        self.assertEqual(json.loads(done.stdout), ["collector_app", "triggers"], done.stderr)

    def test_the_public_names(self):
        from collector_app.components import Sink, Source
        from collector_app.pipeline import Pipeline
        from collector_app.pipelines.runner import run
        from collector_app.pushcollector import Collector

        for name in collector_app.__all__:
            with self.subTest(name):
                self.assertIsNotNone(getattr(collector_app, name))
        self.assertIs(collector_app.run, run)
        self.assertIs(collector_app.Pipeline, Pipeline)
        self.assertIs(collector_app.Recorder, Collector)
        self.assertEqual((collector_app.Source, collector_app.Sink), (Source, Sink))
        with self.assertRaisesMessage(AttributeError, "has no attribute 'nope'"):
            collector_app.nope  # noqa: B018

    def test_versions_come_from_the_package_metadata(self):
        installed = version("django-triggered-collectors")
        self.assertEqual(collector_app.__version__, installed)
        self.assertEqual(triggers.__version__, installed)

    def test_every_exception_is_a_collectors_error_and_keeps_its_base(self):
        for name in exceptions.__all__:
            with self.subTest(name):
                self.assertTrue(issubclass(getattr(exceptions, name), exceptions.CollectorsError))
        self.assertTrue(issubclass(exceptions.DefinitionError, ValueError))
        self.assertTrue(issubclass(exceptions.UnknownPipelineError, LookupError))
        self.assertTrue(issubclass(exceptions.CollectorConfigError, ImproperlyConfigured))
        from collector_app.definition import DefinitionError

        self.assertIs(exceptions.DefinitionError, DefinitionError)

    def test_the_old_names_still_import(self):
        from collector_app.state.running import (  # noqa: F401
            CollectorConfigError,
            RunOutcome,
            configured_collectors,
            run_configured,
        )

        self.assertIs(RunOutcome, RunResult)


class OldModulePaths(SimpleTestCase):
    """Modules that moved into subpackages keep their old dotted paths as the very same module
    object: imports, ``mock.patch`` targets and RQ jobs queued under the old name all work."""

    MOVED = {
        "collector_app.scheduler": "collector_app.scheduling.scheduler",
        "collector_app.schedules": "collector_app.scheduling.schedules",
        "collector_app.slots": "collector_app.scheduling.slots",
        "collector_app.definition_schedule": "collector_app.scheduling.spec",
        "collector_app.state.locking": "collector_app.leases",
        "collector_app.state.running": "collector_app.pipelines.runner",
        "collector_app.execution": "collector_app.timeouts",
        "collector_app.copying": "collector_app.json_data",
        **{
            f"collector_app.pushcollector.{name}": f"collector_app.recording.{name}"
            for name in (
                "base", "batch", "collector", "contract", "db", "dummy", "local", "registry",
                "runs", "validation",
            )
        },
    }  # fmt: skip

    def test_old_paths_are_the_same_modules(self):
        from importlib import import_module

        for old, new in self.MOVED.items():
            with self.subTest(old):
                self.assertIs(import_module(old), import_module(new))

    def test_a_moved_module_imports_first_in_a_fresh_process(self):
        """The collector lock and the state package import each other: either may come first."""
        import subprocess
        import sys
        from pathlib import Path

        root = Path(__file__).resolve().parent.parent
        for module in ("collector_app.leases", "collector_app.state.locking", "collector_app.state",
                       "collector_app.state.running", "collector_app.state.handle"):  # fmt: skip
            with self.subTest(module):
                script = (
                    f"import {module}, collector_app.leases as leases\n"
                    f"from collector_app.state import collector_lock\n"
                    f"assert collector_lock is leases.collector_lock\n"
                )
                done = subprocess.run(
                    [sys.executable, "-c", script], cwd=root, capture_output=True, text=True
                )
                self.assertEqual(done.returncode, 0, done.stderr)

    def test_pushcollector_names_are_the_recording_names(self):
        from collector_app import pushcollector, recording

        for name in pushcollector.__all__:
            with self.subTest(name):
                self.assertIs(getattr(pushcollector, name), getattr(recording, name))
        self.assertIs(collector_app.Recorder, recording.Collector)

    def test_a_job_queued_under_the_old_name_runs_the_moved_function(self):
        from rq.utils import import_attribute

        from collector_app.scheduling.schedules import run_scheduled

        self.assertIs(import_attribute("collector_app.schedules.run_scheduled"), run_scheduled)

    def test_the_admin_package_registers_what_the_admin_module_did(self):
        from django.apps import apps
        from django.contrib import admin

        shown = [
            "PipelineRun", "PipelineSchedule", "GatherCheckpoint", "GatherRun", "RecordingRun",
            "PushItemRecord", "AttachmentRecord", "CollectorState",
        ]  # fmt: skip
        for name in shown:
            with self.subTest(name):
                model = apps.get_model("collector_app", name)
                self.assertTrue(admin.site.is_registered(model))

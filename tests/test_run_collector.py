"""Running and repairing collectors: ``run_collector`` in real processes (exit status 0 / 1 /
75), the ``collector_state`` command and the state admin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from unittest import mock

from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from collector_app.models import CollectorLock, CollectorState, PipelineRun
from collector_app.state.file import FileStateStore
from collector_app.state.running import CollectorConfigError, configured_collectors
from tests.support.helpers import SessionTestCase, subprocess_env
from tests.support.state_collectors import Counter, Strict

ROOT = Path(__file__).resolve().parent.parent

CLASS_COLLECTORS = {
    "feed": {"class": "tests.support.state_collectors.Counter", "config": {"items": ["a", "b"]}},
    "strict": {"class": "tests.support.state_collectors.Strict", "config": {}},
    "down": {"class": "tests.support.state_collectors.Failing"},
    "nowhere": {"class": "tests.support.state_collectors.Missing"},
}
PIPELINES = {
    "counting": {"sources": [{"type": "tests.state.counter", "id": "count"}]},
    "broken": {
        "sources": [{"type": "tests.pipe.constant", "id": "bad", "config": {"value": "fail"}}]
    },
}
MODULES = ["tests.support.state_collectors", "tests.support.pipeline_components"]


def hold_elsewhere(name: str, owner: str = "elsewhere:1:x") -> None:
    """The lock row another process running collector ``name`` would hold."""
    now = timezone.now()
    CollectorLock.objects.create(
        key=name, owner=owner, acquired=now, expires=now + timedelta(minutes=5)
    )


def collectors(**extra) -> dict:
    return {
        "CLASS_COLLECTORS": CLASS_COLLECTORS,
        "PIPELINES": PIPELINES,
        "COMPONENT_MODULES": MODULES,
        **extra,
    }


class RunCollectorProcess(SessionTestCase):
    """``manage.py run_collector`` with settings of our own: a module written for the test."""

    def setUp(self):
        self.tmp = self.tmp_path
        self.log = self.tmp / "runs.log"
        slow = {
            "class": "tests.support.state_collectors.Counter",
            "config": {"sleep": 1.5, "log": str(self.log)},
        }
        self.settings = collectors(CLASS_COLLECTORS={**CLASS_COLLECTORS, "slow": slow})
        module = f"run_collector_settings_{uuid.uuid4().hex[:8]}"
        (self.tmp / f"{module}.py").write_text(
            "import json\nfrom settings import *  # noqa\n"
            f"COLLECTORS = json.loads({json.dumps(self.settings)!r})\n"
        )
        self.env = {
            **subprocess_env(),
            "DJANGO_SETTINGS_MODULE": module,
            "PYTHONPATH": str(self.tmp),
        }

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_collector", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_collector(self, *args: str) -> subprocess.CompletedProcess:
        process = self.start(*args)
        stdout, stderr = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def state_of(self, name: str) -> dict:
        entry = self.settings["CLASS_COLLECTORS"][name]
        with override_settings(COLLECTORS=self.settings):
            cls = Strict if name == "strict" else Counter
            return cls(name=name, config=entry.get("config", {})).load_state()

    def test_a_passing_run_loads_and_saves_its_state_and_exits_0(self):
        for expected_runs in (1, 2):
            done = self.run_collector("feed")
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("collector 'feed' (class) passed", done.stdout)
            self.assertEqual(
                self.state_of("feed"), {"runs": expected_runs, "seen": ["a", "b"] * expected_runs}
            )
        self.assertFalse(CollectorLock.objects.exists())

    def test_failures_exit_1_with_the_reason(self):
        done = self.run_collector("down")
        self.assertEqual(done.returncode, 1)
        self.assertIn("collector 'down' failed: RuntimeError: the feed is down", done.stderr)
        self.assertIn("Traceback", done.stderr)
        done = self.run_collector("nope")
        self.assertEqual(done.returncode, 1)
        self.assertIn("no collector named 'nope'", done.stderr)
        self.assertIn("feed", done.stderr)  # the known names
        done = self.run_collector("nowhere")
        self.assertEqual(done.returncode, 1)
        self.assertIn("COLLECTORS['CLASS_COLLECTORS']['nowhere']['class']", done.stderr)

    def test_a_corrupt_state_exits_1_and_stays(self):
        with override_settings(COLLECTORS=self.settings):
            Strict(name="strict", config={}).save_state({"runs": 1, "seen": []})
        CollectorState.objects.update(state="a string")
        done = self.run_collector("strict")
        self.assertEqual(done.returncode, 1)
        self.assertIn("is corrupt", done.stderr)
        self.assertIn("collector_state reset strict", done.stderr)
        self.assertEqual(CollectorState.objects.get().state, "a string")

    def test_a_held_lock_exits_75(self):
        hold_elsewhere("feed", owner="cron-host:42:abc")
        done = self.run_collector("feed", "--lock", "refuse")
        self.assertEqual(done.returncode, 75, done.stderr)
        self.assertIn("'feed' is being run by cron-host:42:abc", done.stderr)
        started = time.monotonic()
        done = self.run_collector("feed", "--lock", "wait", "--lock-timeout", "1")
        self.assertEqual(done.returncode, 75, done.stderr)
        self.assertGreaterEqual(time.monotonic() - started, 1)
        self.assertEqual(self.state_of("feed")["runs"], 0)  # neither run ran

    def _overlap(self, *args: str) -> tuple[subprocess.Popen, subprocess.Popen]:
        first = self.start("slow", *args)
        deadline = time.monotonic() + 60
        while not CollectorLock.objects.filter(key="slow").exists():  # the first one runs
            self.assertLess(time.monotonic(), deadline, "the first run never took the lock")
            if first.poll() is not None:
                self.fail(f"the first run ended early: {first.communicate()}")
            time.sleep(0.05)
        return first, self.start("slow", *args)

    def test_overlapping_runs_wait_in_turn(self):
        first, second = self._overlap("--lock", "wait")
        self.assertEqual(first.wait(timeout=120), 0, first.communicate())
        self.assertEqual(second.wait(timeout=120), 0, second.communicate())
        words = [line.split()[0] for line in self.log.read_text().splitlines()]
        self.assertEqual(words, ["start", "end", "start", "end"])
        self.assertEqual(self.state_of("slow")["runs"], 2)

    def test_overlapping_runs_refused(self):
        first, second = self._overlap("--lock", "refuse")
        self.assertEqual(second.wait(timeout=120), 75, second.communicate())
        self.assertEqual(first.wait(timeout=120), 0, first.communicate())
        self.assertEqual(self.state_of("slow")["runs"], 1)

    def test_named_pipelines_run_too(self):
        done = self.run_collector("counting")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(CollectorState.objects.get().collector, "counting/count")
        self.assertEqual(PipelineRun.objects.get(pipeline="counting").status, "passed")
        done = self.run_collector("broken")
        self.assertEqual(done.returncode, 1)
        self.assertIn("bad (tests.pipe.constant) failed: asked to fail", done.stderr)


@override_settings(COLLECTORS=collectors())
class CollectorStateCommand(SessionTestCase):
    def setUp(self):
        self.feed = Counter(name="feed", config={"items": ["a", "b"]})
        self.feed.save_state({"runs": 1, "seen": ["a"]})
        self.other = Counter(name="feed", config={"items": ["c"]})
        self.other.save_state({"runs": 5, "seen": []})
        call_command("run_collector", "counting", stdout=StringIO())

    def command(self, *args: str, **options) -> str:
        out = StringIO()
        call_command("collector_state", *args, stdout=out, stderr=StringIO(), **options)
        return out.getvalue()

    def test_list_and_show(self):
        listed = self.command("list")
        for key in (self.feed.state_key, self.other.state_key):
            self.assertIn(key, listed)
        self.assertIn("collector=counting/count", listed)
        shown = json.loads(self.command("show", "feed"))
        self.assertEqual(shown[self.feed.state_key]["state"], {"runs": 1, "seen": ["a"]})
        self.assertEqual(shown[self.other.state_key]["version"], 1)
        self.assertEqual(
            list(json.loads(self.command("show", self.other.state_key))), [self.other.state_key]
        )
        self.assertEqual(len(json.loads(self.command("show", "counting"))), 1)  # its components

    def test_show_gives_datetimes_and_sets_as_tags(self):
        tagged = Counter(name="tagged", config={})
        tagged.save_state({"last_utc": datetime(2024, 5, 1, 10, 0), "seen": {"b", "a"}})
        shown = json.loads(self.command("show", "tagged"))
        self.assertEqual(
            shown[tagged.state_key]["state"],
            {"last_utc": {"$datetime": "2024-05-01T10:00:00"}, "seen": {"$set": ["a", "b"]}},
        )

    def test_show_of_a_corrupt_state_is_an_error(self):
        strict = Strict(name="strict", config={})
        strict.save_state({"runs": 1, "seen": []})
        with mock.patch("collector_app.state.db.json.loads", side_effect=ValueError("torn")):
            with self.assertRaisesMessage(CommandError, "corrupt stored state"):
                self.command("show", "strict")

    def test_reset_asks_then_forgets_every_state_of_the_collector(self):
        with (
            mock.patch("builtins.input", return_value="no"),
            self.assertRaisesMessage(CommandError, "reset cancelled"),
        ):
            self.command("reset", "feed")
        self.assertEqual(CollectorState.objects.filter(collector="feed").count(), 2)
        with mock.patch("builtins.input", return_value="yes"):
            out = self.command("reset", "feed")
        self.assertIn(f"reset {self.feed.state_key}", out)
        self.assertFalse(CollectorState.objects.filter(collector="feed").exists())
        self.assertEqual(self.feed.load_state(), {"runs": 0, "seen": []})
        self.assertTrue(CollectorState.objects.filter(collector="counting/count").exists())
        self.command("reset", "counting", "--no-input")
        self.assertFalse(CollectorState.objects.exists())

    def test_reset_is_refused_while_the_collector_runs(self):
        hold_elsewhere("counting")
        with self.assertRaises(CommandError) as caught:
            self.command("reset", "counting", interactive=False)
        self.assertEqual(caught.exception.returncode, 75)
        self.assertIn("'counting' is being run", str(caught.exception))
        self.assertTrue(CollectorState.objects.filter(collector="counting/count").exists())

    def test_unknown_and_never_saved(self):
        with self.assertRaisesMessage(CommandError, "stored collectors: counting/count, feed"):
            self.command("show", "nope")
        self.assertEqual(json.loads(self.command("show", "down")), {})

    def test_class_collector_entries_are_checked(self):
        for entry, message in [
            ("tests.x.Y", "must be a dict"),
            ({"class": "Y"}, "dotted class path"),
            ({"class": "a.B", "confg": {}}, "unknown key 'confg'"),
            ({"class": "a.B", "config": []}, "['config'] must be a dict"),
        ]:
            with (
                self.subTest(entry=entry),
                override_settings(COLLECTORS={"CLASS_COLLECTORS": {"x": entry}}),
                self.assertRaisesMessage(CollectorConfigError, message),
            ):
                configured_collectors()
        with (
            override_settings(
                COLLECTORS=collectors(CLASS_COLLECTORS={"counting": {"class": "a.B"}})
            ),
            self.assertRaisesMessage(CollectorConfigError, "a collector name must be unique"),
        ):
            configured_collectors()


class StateAdmin(SessionTestCase):
    def setUp(self):
        self.counter = Counter(name="feed", config={"url": "https://a"})
        self.counter.save_state({"runs": 4, "seen": ["<b>x</b>"]})
        self.key = self.counter.state_key
        self.page = reverse("admin:collector_app_collectorstate_change", args=[quote(self.key)])
        self.reset = reverse("admin:collector_app_collectorstate_reset", args=[quote(self.key)])
        self.viewer = User.objects.create_user("viewer", is_staff=True)
        self.viewer.user_permissions.set(Permission.objects.filter(codename="view_collectorstate"))
        self.admin = User.objects.create_superuser("admin")

    def test_viewers_see_read_only_json_and_cannot_reset_or_edit(self):
        self.client.force_login(self.viewer)
        listing = self.client.get(reverse("admin:collector_app_collectorstate_changelist"))
        self.assertContains(listing, self.key)
        page = self.client.get(self.page)
        self.assertContains(page, 'id="state-json"')
        self.assertContains(page, "&lt;b&gt;x&lt;/b&gt;")  # escaped
        self.assertNotContains(page, 'id="reset-link"')
        self.assertNotContains(page, "<textarea")
        self.assertEqual(self.client.get(self.reset).status_code, 403)
        self.assertEqual(self.client.post(self.reset, {"post": "yes"}).status_code, 403)
        self.assertEqual(self.client.post(self.page, {"state": "{}"}).status_code, 403)
        self.assertEqual(self.counter.load_state()["runs"], 4)

    def test_reset_asks_first_then_resets(self):
        self.client.force_login(self.admin)
        self.assertContains(self.client.get(self.page), 'id="reset-link"')
        confirm = self.client.get(self.reset)
        self.assertContains(confirm, "Please confirm")
        self.assertTrue(CollectorState.objects.exists())  # asking changes nothing
        done = self.client.post(self.reset, {"post": "yes"})
        self.assertRedirects(done, reverse("admin:collector_app_collectorstate_changelist"))
        self.assertFalse(CollectorState.objects.exists())

    def test_reset_and_edit_are_refused_while_the_collector_runs(self):
        self.client.force_login(self.admin)
        hold_elsewhere("feed")
        self.assertContains(self.client.post(self.reset, {"post": "yes"}), "is being run")
        self.assertContains(self.client.post(self.page, {"state": "{}"}), "is being run")
        self.assertEqual(self.counter.load_state()["runs"], 4)

    def test_editing_needs_valid_json_and_bumps_the_version(self):
        self.client.force_login(self.admin)
        self.assertContains(self.client.post(self.page, {"state": "{oops"}), "not valid JSON")
        self.assertRedirects(
            self.client.post(self.page, {"state": '{"runs": 7, "seen": []}'}), self.page
        )
        self.assertEqual(CollectorState.objects.get().version, 2)
        self.assertEqual(self.counter.load_state(), {"runs": 7, "seen": []})

    def test_tagged_values_are_shown_and_edited_as_tags(self):
        self.client.force_login(self.admin)
        self.counter.save_state({"runs": 4, "since": datetime(2024, 5, 1, 10, 0)})
        self.assertContains(self.client.get(self.page), "$datetime")
        edited = '{"runs": 5, "since": {"$datetime": "2024-06-01T00:00:00"}, "ids": {"$set": [1]}}'
        self.assertRedirects(self.client.post(self.page, {"state": edited}), self.page)
        self.assertEqual(
            self.counter.load_state(),
            {"runs": 5, "since": datetime(2024, 6, 1), "ids": {1}},
        )
        bad_tag = '{"since": {"$datetime": 5}}'
        self.assertContains(self.client.post(self.page, {"state": bad_tag}), "tagged value")

    def test_the_admin_shows_the_file_store_and_corrupt_states(self):
        directory = str(self.tmp_path)
        self.client.force_login(self.admin)
        with override_settings(COLLECTORS={"STATE_STORE": "file", "STATE_DIR": directory}):
            self.counter.save_state({"runs": 1, "seen": []})
            FileStateStore(directory).path(self.key).write_text("[broken")
            listing = self.client.get(reverse("admin:collector_app_collectorstate_changelist"))
            self.assertContains(listing, "corrupt")
            self.assertContains(self.client.get(self.page), "is corrupt")
            self.client.post(self.reset, {"post": "yes"})
            self.assertEqual(os.listdir(directory), [])

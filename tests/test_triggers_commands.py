"""The triggers_* management commands, with good and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path
from unittest import mock

from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.support.helpers import SessionTestCase, new_uid, subprocess_env
from triggers.manager import get_manager
from triggers.models import TriggerSession
from triggers.registry import flush_pending_counts
from triggers.storages import get_storage

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {
    "one": {"after": ["start"], "run": "tests.support.tasks.fail_unless_ok"},
    "two": {"after": ["one"], "run": "tests.support.tasks.echo"},
}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class Commands(SessionTestCase):
    def setUp(self):
        self.uid = new_uid("cmd")
        self.tmp = Path(self.enterContext(__import__("tempfile").TemporaryDirectory()))
        self.json_file = self.tmp / "config.json"
        self.json_file.write_text(json.dumps(CONFIG))

    def configured(self, storage="cache"):
        return run("triggers_config", self.uid, str(self.json_file), "--storage", storage)

    def state(self):
        return {inst.name: inst.status for inst in get_storage(self.uid, self.storage_name())}

    def storage_name(self):
        return TriggerSession.objects.get(uid=self.uid).storage

    def test_config_from_json_and_toml(self):
        self.assertIn("2 tasks configured: one, two", self.configured())
        toml_file = self.tmp / "config.toml"
        toml_file.write_text('[only]\nafter = ["go"]\nrun = "tests.support.tasks.noop"\n')
        out = json.loads(run("triggers_config", self.uid, str(toml_file), "--json"))
        self.assertEqual(out["tasks"], ["only"])
        # Merged, as update_configuration does: the tasks the file does not name stay.
        self.assertEqual(sorted(get_storage(self.uid, "cache").tasks), ["one", "only", "two"])
        run("triggers_config", self.uid, str(toml_file), "--replace")
        self.assertEqual(list(get_storage(self.uid, "cache").tasks), ["only"])

    def test_config_errors_change_nothing(self):
        self.configured()
        bad = self.tmp / "bad.json"
        bad.write_text('{"one": {"after": "start", "run": "tests.support.tasks.noop"}}')
        with self.assertRaisesMessage(CommandError, "task 'one', directive 'after'"):
            run("triggers_config", self.uid, str(bad))
        broken = self.tmp / "broken.json"
        broken.write_text("{nope")
        with self.assertRaisesMessage(CommandError, "is not valid JSON"):
            run("triggers_config", self.uid, str(broken))
        with self.assertRaisesMessage(CommandError, "cannot read"):
            run("triggers_config", self.uid, str(self.tmp / "missing.json"))
        self.assertEqual(sorted(get_storage(self.uid, "cache").tasks), ["one", "two"])

    def test_fire_status_replay_skip_on_both_backends(self):
        for storage in ("cache", "db"):
            with self.subTest(storage=storage):
                self.uid = new_uid(f"cmd-{storage}")
                self.configured(storage)
                out = json.loads(
                    run("triggers_fire", self.uid, "start", "--kwargs", "{}", "--json")
                )
                self.assertEqual(out["scheduled"], ["one#0"])
                self.assertEqual(self.state(), {"one#0": "failed"})
                status = json.loads(run("triggers_status", self.uid, "--json"))
                self.assertEqual(status["instances"][0]["exc_type"], "RuntimeError")
                self.assertIn("one#0", run("triggers_status", self.uid))
                self.assertIn(
                    "replayed as one#1",
                    run(
                        "triggers_replay", self.uid, "one#0", "--kwargs", '{"start": {"ok": true}}'
                    ),
                )
                self.assertEqual(
                    self.state(), {"one#0": "replayed", "one#1": "finished", "two#0": "finished"}
                )

    def test_replay_here_runs_the_clone_and_what_it_fires_without_a_worker(self):
        from tests.support.rq_helpers import reset_queues

        reset_queues()
        self.configured()
        run("triggers_fire", self.uid, "start")
        self.assertEqual(self.state(), {"one#0": "failed"})
        with override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"}):
            out = run(
                "triggers_replay", self.uid, "one#0", "--here", "--kwargs", '{"start": {"ok": 1}}'
            )
        self.assertIn("replayed as one#1 (finished)", out)
        self.assertEqual(
            self.state(), {"one#0": "replayed", "one#1": "finished", "two#0": "finished"}
        )
        import django_rq

        self.assertEqual(django_rq.get_queue("default").count, 0)  # nothing went to RQ

    def test_skip_with_cascade_and_result(self):
        self.configured()
        run("triggers_fire", self.uid, "start")
        out = run("triggers_skip", self.uid, "one#0", "--cascade", "--result", '{"x": 1}')
        self.assertIn("skipped and its trigger fired", out)
        self.assertEqual(self.state(), {"one#0": "skipped", "two#0": "finished"})
        self.assertEqual(get_storage(self.uid, "cache")["two#0"].result["seen"], {"one": {"x": 1}})

    def test_bad_input_is_a_one_line_error_and_changes_nothing(self):
        self.configured()
        run("triggers_fire", self.uid, "start")
        before = self.state()
        cases = [
            (("triggers_fire", "nope-session", "start"), "no trigger session 'nope-session'"),
            (
                ("triggers_fire", self.uid, "start", "--kwargs", "{bad"),
                "--kwargs is not valid JSON",
            ),
            (("triggers_fire", self.uid, "start", "--kwargs", "[1]"), "must be a JSON object"),
            (("triggers_replay", self.uid, "one#9"), "no task instance named 'one#9'"),
            (
                ("triggers_replay", self.uid, "one#0", "--kwargs", '{"zz": 1}'),
                "must be a JSON object",
            ),
            (("triggers_skip", self.uid, "two#0"), "no task instance named 'two#0'"),
            (("triggers_skip", self.uid, "one#0", "--result", "1"), "--result must be a JSON"),
            (("triggers_status", "nope-session"), "no trigger session"),
            (("triggers_purge", "--older-than", "soon"), "--older-than 'soon'"),
        ]
        for args, message in cases:
            with self.subTest(args=args), self.assertRaisesMessage(CommandError, message):
                run(*args)
        self.assertEqual(self.state(), before)

    def test_exit_status_and_one_line_error_from_the_shell(self):
        process = subprocess.run(
            [sys.executable, "manage.py", "triggers_fire", "no-such-session", "start"],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
        )
        self.assertEqual(process.returncode, 1)
        self.assertEqual(
            process.stderr.strip(),
            "CommandError: no trigger session 'no-such-session' (not in the session table)",
        )

    def test_help_texts(self):
        for name in ("config", "fire", "status", "replay", "skip", "purge", "recover"):
            process = subprocess.run(
                [sys.executable, "manage.py", f"triggers_{name}", "--help"],
                cwd=ROOT,
                env=subprocess_env(),
                capture_output=True,
                text=True,
            )
            self.assertEqual(process.returncode, 0, process.stderr)
            self.assertIn("usage:", process.stdout)

    def test_purge_removes_old_resolved_sessions_of_both_backends(self):
        uids = {}
        for storage in ("cache", "db"):
            self.uid = uids[storage] = new_uid(f"purge-{storage}")
            self.configured(storage)
            run("triggers_fire", self.uid, "start")
            run("triggers_skip", self.uid, "one#0")
        self.uid = unresolved = new_uid("purge-unresolved")
        self.configured()
        run("triggers_fire", self.uid, "start")  # one#0 stays failed
        flush_pending_counts()  # activity staged in Redis counts as activity: take it first
        TriggerSession.objects.filter(uid__in=[*uids.values(), unresolved]).update(
            updated="2000-01-01T00:00:00Z"
        )
        dry = json.loads(run("triggers_purge", "--older-than", "30d", "--dry-run", "--json"))
        self.assertEqual(sorted(dry["purged"]), sorted(uids.values()))
        self.assertTrue(TriggerSession.objects.filter(uid=uids["cache"]).exists())
        self.assertIn("purged 2 sessions", run("triggers_purge", "--older-than", "30d"))
        self.assertEqual(
            list(
                TriggerSession.objects.filter(uid__in=[*uids.values(), unresolved]).values_list(
                    "uid", flat=True
                )
            ),
            [unresolved],
        )
        self.assertEqual(list(get_storage(uids["cache"], "cache")), [])
        self.assertEqual(list(get_storage(uids["db"], "db")), [])


class BadInputOnBothBackends(SessionTestCase):
    """Each case is one line (a ``CommandError``), never a traceback; on cache and db."""

    def configure(self, storage: str) -> str:
        uid = new_uid(f"bad-{storage}")
        manager = get_manager(uid, storage)
        manager.update_configuration(CONFIG)
        return uid

    def test_kwargs_nested_10000_deep(self):
        deep = '{"a": ' * 10_000 + "1" + "}" * 10_000
        for storage in ("cache", "db"):
            uid = self.configure(storage)
            with self.subTest(storage=storage):
                with self.assertRaisesMessage(CommandError, "--kwargs is nested") as caught:
                    run("triggers_fire", uid, "start", "--kwargs", deep)
                self.assertNotIn("\n", str(caught.exception))
                self.assertEqual(list(get_storage(uid, storage)), [])

    def test_purge_older_than_more_than_the_calendar_holds(self):
        for age in ("2000000d", "99999999999999999999h"):
            with self.subTest(age=age), self.assertRaisesMessage(CommandError, f"{age!r}"):
                run("triggers_purge", "--older-than", age)

    def test_a_session_uid_over_255_characters(self):
        uid = "u" * 256
        config = ROOT / "var" / "never-read.json"  # refused before the file matters
        for storage in ("cache", "db"):
            with self.subTest(storage=storage):
                with self.assertRaisesMessage(CommandError, "at most 255 characters, not 256"):
                    run("triggers_config", uid, str(config), "--storage", storage)
        with self.assertRaisesMessage(CommandError, "at most 255 characters"):
            run("triggers_fire", uid, "start")
        self.assertFalse(TriggerSession.objects.filter(uid=uid).exists())

    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
    def test_firing_a_trigger_that_no_task_uses_says_so_on_stderr(self):
        for storage in ("cache", "db"):
            uid = self.configure(storage)
            with self.subTest(storage=storage):
                out, err = StringIO(), StringIO()
                call_command("triggers_fire", uid, "strat", stdout=out, stderr=err)
                self.assertIn("scheduled: nothing", out.getvalue())
                self.assertIn("no task of session", err.getvalue())
                self.assertIn("uses trigger 'strat'", err.getvalue())
                self.assertIn("did you mean 'start'?", err.getvalue())
                self.assertEqual(get_storage(uid, storage).latest_kwargs, {"strat": {}})
                err = StringIO()
                call_command("triggers_fire", uid, "start", stdout=StringIO(), stderr=err)
                self.assertEqual(err.getvalue(), "")

    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
    def test_redis_dropping_mid_fire_says_the_fire_was_recorded(self):
        from redis.exceptions import ConnectionError as RedisConnectionError

        from triggers.runners.rq_runner import RQRunner
        from triggers.watch import control_connection, unwatch

        refused = RedisConnectionError(
            "Error 111 connecting to 127.0.0.1:6379. Connection refused."
        )
        for storage in ("cache", "db"):
            uid = self.configure(storage)
            with self.subTest(storage=storage):
                with (
                    mock.patch.object(RQRunner, "enqueue", side_effect=refused),
                    self.assertRaises(CommandError) as caught,
                ):
                    run("triggers_fire", uid, "start")
                message = str(caught.exception)
                self.assertNotIn("\n", message)
                self.assertIn("'start' was recorded", message)
                self.assertIn("one#0", message)
                self.assertIn("Connection refused", message)
                self.assertIn("triggers_recover", message)
                stored = get_storage(uid, storage)
                self.assertEqual(stored["one#0"].status, "scheduled")
                self.assertEqual(stored.latest_kwargs, {"start": {}})
            unwatch(control_connection(), storage, uid, "one#0")

    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
    def test_redis_dropping_before_the_write_says_nothing_was_recorded(self):
        from redis.exceptions import ConnectionError as RedisConnectionError

        refused = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused")
        for storage in ("cache", "db"):
            uid = self.configure(storage)
            with self.subTest(storage=storage):
                with (
                    mock.patch("triggers.runners.rq_runner.watch", side_effect=refused),
                    self.assertRaises(CommandError) as caught,
                ):
                    run("triggers_fire", uid, "start")
                message = str(caught.exception)
                self.assertNotIn("\n", message)
                self.assertIn("Redis is unreachable", message)
                self.assertIn("Connection refused", message)
                self.assertEqual(list(get_storage(uid, storage)), [])
                self.assertEqual(get_storage(uid, storage).latest_kwargs, {})

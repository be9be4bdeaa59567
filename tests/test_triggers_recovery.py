"""Recovery that holds whatever fails: sync runs, a Redis that forgot, tasks that hog the GIL."""

from __future__ import annotations

import html
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import django_rq
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from tests.support.helpers import SessionTestCase, new_uid, subprocess_env
from tests.support.rq_helpers import (
    ROOT,
    finish,
    reset_queues,
    run_burst_workers,
    start_worker,
    wait_for,
)
from triggers import TriggerManager
from triggers import watch as watch_module
from triggers.models import TriggerSession
from triggers.recovery import recover
from triggers.registry import flush_pending_counts
from triggers.runners.base import BaseRunner
from triggers.runners.rq_runner import RQRunner
from triggers.testing import TriggerTestMixin
from triggers.watch import WATCH_KEY, lease_alive, watched

T = "tests.support.tasks."


class IdleRunner(BaseRunner):
    """A third-party runner that recovery knows nothing about: it must be left alone."""

    name = "idle"

    def schedule(self, manager, items):
        pass


class RecoveryTestCase(TriggerTestMixin, SessionTestCase):
    storage = "cache"

    def setUp(self):
        reset_queues()
        self.manager = TriggerManager.for_session(new_uid("recovery"), self.storage)
        self.redis = django_rq.get_connection("default")

    def status(self, name):
        storage = self.manager.storage
        return storage[name].status if name in storage else None

    def later(self, seconds):
        return datetime.now(UTC) + timedelta(seconds=seconds)


@override_settings(TRIGGERS={"LEASE_TIMEOUT": 1.0})
class SyncRunnerProcessDies(RecoveryTestCase):
    """A process running instances inline (``sync``) is killed: recovery fails what it left."""

    def test_killed_mid_task_on_cache(self):
        self.kill_mid_task()

    def test_killed_mid_task_on_db(self):
        self.manager = TriggerManager.for_session(new_uid("recovery-db"), "db")
        self.kill_mid_task()

    def kill_mid_task(self):
        self.manager.update_configuration(
            {
                "a_slow": {"after": ["start"], "run": T + "sleep_for"},
                "b_queued": {"after": ["start"], "run": T + "noop"},
            }
        )
        uid, storage = self.manager.session_uid, self.manager.storage.name
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.recovery_tasks", uid, storage, "1.0"],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            key = f"tests:pid:a_slow#0:{uid}"
            wait_for(lambda: self.redis.get(key) is not None, 30, "the task to start sleeping")
            self.assertEqual(self.status("a_slow#0"), "running")
            self.assertEqual(self.status("b_queued#0"), "scheduled")  # queued behind a_slow
            time.sleep(1.5)  # longer than LEASE_TIMEOUT: only the live lease protects them
            self.assertTrue(lease_alive(self.redis, storage, uid, "a_slow#0"))
            self.assertEqual(recover().failed, [], "a live sync run must not be failed")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(30)

        wait_for(lambda: len(recover().failed) or self.status("b_queued#0") == "failed", 10)
        running = self.assertInstanceFailed("a_slow#0", "WorkerLost")
        self.assertIn("abandoned by its process", running.metadata["exc_message"])
        self.assertIn("runner 'sync'", running.metadata["exc_message"])
        queued = self.assertInstanceFailed("b_queued#0", "WorkerLost")
        self.assertIn("abandoned before it started", queued.metadata["exc_message"])
        self.assertEqual(recover().failed, [], "recovery is idempotent")
        self.assertEqual(watched(self.redis), [])

        with override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"}):
            self.manager.replay_failed_instance("a_slow#0", {"start": {"sleep": 0}})
        self.assertInstanceFinished("a_slow#1", {"slept": 0})


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class SyncRunnerBookkeeping(RecoveryTestCase):
    def test_a_finished_sync_chain_leaves_nothing_on_the_watch_list(self):
        self.manager.update_configuration(
            {
                "one": {"after": ["start"], "run": T + "add_one"},
                "two": {"after": ["one"], "run": T + "add_one"},
            }
        )
        with mock.patch("triggers.runners.sync.watch", wraps=watch_module.watch) as put_on_list:
            self.manager.fire("start", {"n": 1})
        self.assertInstanceFinished("two#0", {"n": 3})
        self.assertEqual(put_on_list.call_count, 2)
        self.assertEqual(watched(self.redis), [], "each one left the list once it finished")

    @override_settings(RQ_QUEUES={})
    def test_without_a_configured_redis_it_touches_no_redis(self):
        self.manager.update_configuration(
            {
                "one": {"after": ["start"], "run": T + "add_one"},
                "two": {"after": ["one"], "run": T + "add_one"},
            }
        )
        refuse = mock.Mock(side_effect=AssertionError("the sync runner asked for Redis"))
        with (
            mock.patch("triggers.watch.control_connection", refuse),
            mock.patch("triggers.watch.Leases._renew", refuse),
        ):
            self.manager.fire("start", {"n": 1})
        self.assertInstanceFinished("two#0", {"n": 3})
        refuse.assert_not_called()

    def test_a_redis_error_does_not_stop_the_run(self):
        self.manager.update_configuration({"one": {"after": ["start"], "run": T + "add_one"}})
        broken = mock.Mock(side_effect=ConnectionError("redis is away"))
        with (
            mock.patch("triggers.runners.sync.watch", broken),
            mock.patch("triggers.watch.Leases._renew", broken),
            self.assertLogs("triggers", "WARNING"),
        ):
            self.manager.fire("start", {"n": 1})
        self.assertInstanceFinished("one#0", {"n": 2})


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_GRACE": 0})
class RedisForgotOnDb(RecoveryTestCase):
    """The ``db`` storage knows what is in flight even when Redis restarted empty."""

    storage = "db"

    def forget_redis(self):
        job_ids = [inst.metadata.get("rq_job_id") for inst in self.manager.storage]
        self.redis.delete(WATCH_KEY, *(f"rq:job:{job_id}" for job_id in job_ids if job_id))
        django_rq.get_queue("default").empty()
        self.assertEqual(watched(self.redis), [])

    def test_scheduled_without_a_job_is_enqueued_again(self):
        self.manager.update_configuration(
            {
                "one": {"after": ["start"], "run": T + "add_one"},
                "two": {"after": ["one"], "run": T + "add_one"},
            }
        )
        self.manager.fire("start", {"n": 1})
        self.forget_redis()
        report = recover()
        self.assertEqual(report.requeued, [f"{self.manager.session_uid}/one#0"])
        self.assertEqual(recover().requeued, [], "a pending job is not enqueued twice")
        run_burst_workers(1)
        self.assertInstanceFinished("two#0", {"n": 3})
        self.assertEqual(self.manager.storage["one#0"].metadata["requeued"], 1)

    def test_running_without_a_lease_fails(self):
        self.manager.update_configuration({"one": {"after": ["start"], "run": T + "add_one"}})
        with mock.patch.object(RQRunner, "schedule"):
            self.manager.fire("start", {"n": 1})
        self.manager.start_instance("one#0")  # claimed by a worker that then died with Redis
        self.forget_redis()
        self.assertEqual(recover().failed, [], "not before LEASE_TIMEOUT")
        report = recover(now=self.later(31))
        self.assertEqual(report.failed, [f"{self.manager.session_uid}/one#0"])
        failed = self.assertInstanceFailed("one#0", "WorkerLost")
        self.assertIn("abandoned by its worker", failed.metadata["exc_message"])

    def test_instances_of_other_runners_are_left_alone(self):
        self.manager.update_configuration(
            {
                "one": {
                    "after": ["start"],
                    "run": T + "noop",
                    "using": "tests.test_triggers_recovery.IdleRunner",
                }
            }
        )
        self.manager.fire("start")
        report = recover(now=self.later(3600))
        self.assertEqual((report.requeued, report.failed, report.errors), ([], [], []))
        self.assertEqual(self.status("one#0"), "scheduled")


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class CacheLostItsData(RecoveryTestCase):
    """The session table lists a ``cache`` session whose records Redis no longer holds."""

    message = "the storage 'cache' no longer has this session's data"

    def setUp(self):
        super().setUp()
        self.manager.update_configuration({"one": {"after": ["start"], "run": T + "add_one"}})
        self.manager.fire("start", {"n": 1})
        flush_pending_counts()  # as every recovery pass does: the table counts 1 finished
        self.manager.storage.delete()  # what a Redis restarted without its data leaves
        self.session = TriggerSession.objects.get(uid=self.manager.session_uid)

    def test_triggers_status_says_so(self):
        with self.assertRaisesMessage(CommandError, self.message) as caught:
            call_command("triggers_status", self.manager.session_uid, stdout=StringIO())
        self.assertIn("last counted 1 finished", str(caught.exception))
        self.session.refresh_from_db()
        self.assertEqual(self.session.n_finished, 1, "the counts are kept as evidence")

    def test_the_admin_says_so(self):
        admin = User.objects.create_superuser("root", "root@example.com", "x")
        self.client.force_login(admin)
        page = reverse("admin:triggers_triggersession_change", args=[self.session.pk])
        response = self.client.get(page)
        self.assertEqual(response.status_code, 200)
        page = html.unescape(response.content.decode())
        self.assertTrue(self.message in page, "the page does not say the data was lost")

    def test_a_session_that_holds_data_is_shown(self):
        other = TriggerManager.for_session(new_uid("kept"))
        other.update_configuration({"one": {"after": ["start"], "run": T + "add_one"}})
        out = StringIO()
        call_command("triggers_status", other.session_uid, stdout=out)
        self.assertIn("instance", out.getvalue())


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "LEASE_TIMEOUT": 5.0})
class BusyTaskIsNotADeadWorker(RecoveryTestCase):
    def test_a_task_holding_the_gil_for_20s_finishes_and_cascades(self):
        self.manager.update_configuration(
            {
                "hog": {"after": ["start"], "run": "tests.support.recovery_tasks.hold_gil"},
                "next": {"after": ["hog"], "run": T + "echo"},
            }
        )
        self.manager.fire("start", {"seconds": 20})
        worker = start_worker(triggers={"LEASE_TIMEOUT": 5.0})
        failed = []
        try:
            deadline = time.monotonic() + 120
            while worker.poll() is None and time.monotonic() < deadline:
                failed += recover().failed  # as every other worker's recovery pass would
                time.sleep(0.5)
        finally:
            output = finish(worker, 60)
        self.assertEqual(failed, [], output[-2000:])
        hog = self.assertInstanceFinished("hog#0")
        self.assertGreater(hog.result["longest_pause"], 5.0, "the task did not hold the GIL")
        self.assertGreaterEqual(hog.result["held"], 20)
        self.assertInstanceFinished("next#0")
        self.assertEqual(self.manager.storage["next#0"].kwargs["hog"], hog.result)

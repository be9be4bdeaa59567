"""The ``rq`` runner end to end, with real worker processes on a real Redis."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from unittest import mock

import django_rq
from django.core.management import call_command
from django.db import transaction
from django.test import SimpleTestCase, TransactionTestCase, override_settings
from rq.job import Job

from tests.support.helpers import SessionTestCase, new_uid
from tests.support.rq_helpers import (
    finish,
    reset_queues,
    run_burst_workers,
    start_worker,
    wait_for,
)
from triggers import TriggerManager
from triggers.exceptions import ConfigurationError
from triggers.models import TriggerSession
from triggers.recovery import recover
from triggers.runners.rq_runner import RQRunner
from triggers.testing import TriggerTestMixin
from triggers.watch import WATCH_KEY, job_id_for

T = "tests.support.tasks."


def stamp(instance, status):
    return datetime.fromisoformat(instance.metadata["timestamps"][status])


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
class RQTestCase(TriggerTestMixin, SessionTestCase):
    def setUp(self):
        reset_queues()
        self.manager = TriggerManager.for_session(new_uid("rq"))

    def status(self, name):
        storage = self.manager.storage
        return storage[name].status if name in storage else None


class EndToEnd(RQTestCase):
    def test_three_task_chain_on_a_real_worker(self):
        self.manager.update_configuration(
            {
                "one": {"after": ["start"], "run": T + "add_one"},
                "two": {"after": ["one"], "run": T + "add_one", "queue": "low"},
                "three": {"after": ["two", "start"], "run": T + "add_one"},
            }
        )
        self.manager.fire("start", {"n": 10})
        self.assertEqual(self.status("one#0"), "scheduled")  # nothing runs in this process
        job_id = self.manager.storage["one#0"].metadata["rq_job_id"]
        job = Job.fetch(job_id, connection=django_rq.get_connection("default"))
        self.assertEqual(job.args, (self.manager.storage.name, self.manager.session_uid, "one#0"))
        self.assertEqual(job.func_name, "triggers.jobs.run_instance")
        self.assertEqual((job.timeout, job.result_ttl, job.failure_ttl), (600, 0, 604800))

        run_burst_workers(1, queues=["default", "low"])

        self.assertInstanceFinished("one#0", {"n": 11})
        self.assertInstanceFinished("two#0", {"n": 12})
        self.assertInstanceFinished("three#0", {"n": 23})
        self.assertEqual(self.manager.storage["two#0"].kwargs, {"one": {"n": 11}})
        self.assertEqual(self.manager.storage["two#0"].metadata["rq_queue"], "low")
        self.assertEqual(
            self.manager.storage["three#0"].kwargs, {"two": {"n": 12}, "start": {"n": 10}}
        )
        # The outcome lives on the instance: a finished trigger job keeps nothing in Redis.
        self.assertFalse(Job.exists(job.id, connection=django_rq.get_connection("default")))
        self.assertEqual(django_rq.get_connection("default").zcard(WATCH_KEY), 0)

    def test_chain_on_the_db_storage_with_real_workers(self):
        self.manager = TriggerManager.for_session(new_uid("rq-db"), "db")
        self.manager.update_configuration(
            {
                "one": {"after": ["start"], "run": T + "add_one"},
                "two": {"after": ["one"], "run": T + "add_one"},
            }
        )
        self.manager.fire("start", {"n": 1})
        run_burst_workers(2)
        self.assertInstanceFinished("one#0", {"n": 2})
        self.assertInstanceFinished("two#0", {"n": 3})
        session = TriggerSession.objects.get(uid=self.manager.session_uid)
        self.assertEqual((session.n_finished, session.unresolved_count), (2, 0))

    def test_and_every_fired_50_times_on_two_workers(self):
        self.manager.update_configuration(
            {"each": {"after": ["tick"], "andEvery": "tick", "run": T + "echo"}}
        )
        for i in range(50):
            self.manager.fire("tick", {"i": i})
        run_burst_workers(2)
        instances = list(self.manager.storage)
        self.assertEqual(len(instances), 50)
        self.assertEqual({inst.status for inst in instances}, {"finished"})
        self.assertEqual(
            sorted(inst.result["seen"]["tick"]["i"] for inst in instances), list(range(50))
        )

    def test_unknown_queue_is_a_configuration_error(self):
        with self.assertRaisesMessage(ConfigurationError, "'nope' is not a queue"):
            self.manager.update_configuration(
                {"t": {"after": ["a"], "run": T + "noop", "queue": "nope"}}
            )


class Redelivery(RQTestCase):
    def test_the_same_job_delivered_twice_runs_once_and_cascades_once(self):
        self.manager.update_configuration(
            {
                "t": {"after": ["start"], "run": T + "count_runs"},
                "next": {"after": ["t"], "andEvery": "t", "run": T + "noop"},
            }
        )
        self.manager.fire("start")
        storage, uid = self.manager.storage.name, self.manager.session_uid
        RQRunner().enqueue(storage, uid, "t#0", "default")  # the same job, a second time
        self.assertEqual(django_rq.get_queue("default").count, 2)
        run_burst_workers(1)
        self.assertInstanceFinished("t#0", {"runs": 1})
        self.assertInstanceFinished("next#0")
        self.assertInstanceMissing("next#1")
        runs = django_rq.get_connection("default").get(f"tests:runs:{uid}")
        self.assertEqual(int(runs), 1)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "LEASE_TIMEOUT": 1.0})
class WorkerKilled(RQTestCase):
    """A task's process dies mid-run: the instance fails within a bounded time, then replays."""

    def run_and_kill(self, worker_class, kill):
        self.manager.update_configuration({"slow": {"after": ["start"], "run": T + "sleep_for"}})
        self.manager.fire("start", {"sleep": 60})
        worker = start_worker(worker_class=worker_class, triggers={"LEASE_TIMEOUT": 1.0})
        key = f"tests:pid:slow#0:{self.manager.session_uid}"
        redis = django_rq.get_connection("default")
        wait_for(lambda: redis.get(key) is not None, 30, "the task to start sleeping")
        self.assertEqual(self.status("slow#0"), "running")
        self.assertEqual(recover().failed, [], "a live run must not be failed")
        job_pid = int(redis.get(key))
        kill(worker, job_pid)
        killed_at = time.monotonic()
        finish(worker)

        wait_for(lambda: recover().failed or self.status("slow#0") == "failed", 10, "recovery")
        self.assertLess(time.monotonic() - killed_at, 5)  # LEASE_TIMEOUT (1 s) + a pass
        failed = self.assertInstanceFailed("slow#0", "WorkerLost")
        self.assertIn("abandoned by its worker", failed.metadata["exc_message"])
        self.assertEqual(recover().failed, [], "recovery is idempotent")

        self.manager.replay_failed_instance("slow#0", {"start": {"sleep": 0}})
        run_burst_workers(1)
        self.assertInstanceReplayed("slow#0")
        self.assertInstanceFinished("slow#1", {"slept": 0})

    def test_sigkill_of_a_simple_worker_mid_task(self):
        def kill(worker, job_pid):
            self.assertEqual(job_pid, worker.pid)  # SimpleWorker runs the job itself
            os.killpg(worker.pid, signal.SIGKILL)

        self.run_and_kill("triggers.worker.SimpleWorker", kill)

    def test_sigkill_of_a_forking_worker_and_its_work_horse(self):
        def kill(worker, job_pid):
            self.assertNotEqual(job_pid, worker.pid)  # the forked work horse
            os.killpg(worker.pid, signal.SIGKILL)
            os.kill(job_pid, signal.SIGKILL)  # RQ puts the horse in a process group of its own

        self.run_and_kill("triggers.worker.Worker", kill)

    def test_sigkill_of_the_work_horse_alone(self):
        # What the kernel's OOM killer does: the worker lives on and marks its RQ job failed.
        self.run_and_kill(
            "triggers.worker.Worker", lambda worker, pid: os.kill(pid, signal.SIGKILL)
        )


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_GRACE": 0})
class CrashBeforeCascadeIsEnqueued(RQTestCase):
    def test_downstream_task_runs_after_recovery(self):
        self.manager.update_configuration(
            {
                "up": {"after": ["start"], "run": T + "add_one"},
                "down": {
                    "after": ["up"],
                    "run": T + "add_one",
                    "using": "tests.support.rq_helpers.CrashAfterCommitRunner",
                },
            }
        )
        self.manager.fire("start", {"n": 1})
        output = run_burst_workers(1, env={"TRIGGERS_TEST_CRASH_AFTER_COMMIT": "1"})[0]
        self.assertIn("terminated unexpectedly", output)
        self.assertInstanceFinished("up#0", {"n": 2})
        self.assertEqual(self.status("down#0"), "scheduled")
        down_job = self.manager.storage["down#0"].metadata["rq_job_id"]
        self.assertFalse(Job.exists(down_job, connection=django_rq.get_connection("default")))

        report = recover()
        self.assertIn(f"{self.manager.session_uid}/down#0", report.requeued)
        self.assertEqual(recover().requeued, [], "a pending job is not enqueued twice")
        run_burst_workers(1)
        self.assertInstanceFinished("down#0", {"n": 3})
        self.assertEqual(self.manager.storage["down#0"].metadata["requeued"], 1)


class RetryCooldown(RQTestCase):
    def test_retry_with_one_second_cooldown_waits_a_second(self):
        self.manager.update_configuration(
            {"t": {"after": ["start"], "run": T + "retry_after_one_second"}}
        )
        self.manager.fire("start")
        worker = start_worker(burst=False, scheduler=True, max_idle_time=3)
        try:
            wait_for(lambda: self.status("t#1") == "finished", 30, "the retry to finish")
        finally:
            finish(worker, 60)
        first = self.assertInstanceReplayed("t#0")
        retry = self.assertInstanceFinished("t#1", {"depth": 1})
        waited = (stamp(retry, "running") - stamp(first, "failed")).total_seconds()
        self.assertGreaterEqual(waited, 1.0)
        self.assertIn("not_before", retry.metadata)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_GRACE": 0})
class LostEnqueue(RQTestCase):
    def schedule_without_enqueueing(self):
        self.manager.update_configuration({"t": {"after": ["start"], "run": T + "noop"}})
        with mock.patch.object(RQRunner, "schedule"):  # as if the process died after saving
            self.manager.fire("start")
        self.assertEqual(self.status("t#0"), "scheduled")
        self.assertEqual(django_rq.get_queue("default").count, 0)

    def test_workers_run_recovery_periodically(self):
        self.schedule_without_enqueueing()
        worker = start_worker(
            burst=False,
            max_idle_time=3,
            triggers={"RECOVERY_INTERVAL": 0.5, "RECOVERY_GRACE": 0},
        )
        try:
            wait_for(lambda: self.status("t#0") == "finished", 30, "the worker to recover t#0")
        finally:
            finish(worker, 60)
        self.assertEqual(self.manager.storage["t#0"].metadata["requeued"], 1)

    def test_triggers_recover_command(self):
        self.schedule_without_enqueueing()
        from io import StringIO

        out = StringIO()
        call_command("triggers_recover", stdout=out)
        self.assertIn(f"re-enqueued: {self.manager.session_uid}/t#0", out.getvalue())
        out = StringIO()
        call_command("triggers_recover", stdout=out)
        self.assertIn("0 re-enqueued", out.getvalue())
        run_burst_workers(1)
        self.assertInstanceFinished("t#0")

    @override_settings(
        TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_GRACE": 0, "RECOVERY_MAX_REQUEUES": 0}
    )
    def test_an_undeliverable_instance_fails_instead_of_looping(self):
        self.schedule_without_enqueueing()
        self.assertEqual(len(recover().failed), 1)
        self.assertInstanceFailed("t#0", "Undeliverable")


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
class EnqueueAfterCommit(TriggerTestMixin, TransactionTestCase):
    def setUp(self):
        reset_queues()
        self.manager = TriggerManager.for_session(new_uid("atomic"))
        self.manager.update_configuration({"t": {"after": ["start"], "run": T + "noop"}})
        self.job_id = job_id_for(self.manager.storage.name, self.manager.session_uid, "t#0")

    def job_exists(self):
        return Job.exists(self.job_id, connection=django_rq.get_connection("default"))

    def test_enqueued_only_after_commit(self):
        with transaction.atomic():
            self.manager.fire("start")
            self.assertEqual(self.manager.storage["t#0"].metadata["rq_job_id"], self.job_id)
            self.assertFalse(self.job_exists())
        self.assertTrue(self.job_exists())
        run_burst_workers(1)
        self.assertInstanceFinished("t#0")

    def test_not_enqueued_after_rollback(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            self.manager.fire("start")
            raise RuntimeError("roll back")
        self.assertFalse(self.job_exists())
        self.assertEqual(django_rq.get_queue("default").count, 0)


class WorkerClass(SimpleTestCase):
    def test_forking_worker_closes_connections_before_each_job(self):
        from triggers.worker import Worker

        with (
            mock.patch("triggers.worker.connections") as connections,
            mock.patch("rq.Worker.execute_job") as execute,
        ):
            Worker.execute_job(Worker.__new__(Worker), "job", "queue")
        connections.close_all.assert_called_once_with()
        execute.assert_called_once()


class ForkSafety(RQTestCase):
    def test_frequent_recovery_passes_never_hang_a_forked_job(self):
        # The recovery thread runs every 10 ms here, so forks happen during passes unless the
        # worker waits for them; a horse that inherits a held lock hangs until its timeout.
        self.manager.update_configuration(
            {"each": {"after": ["tick"], "andEvery": "tick", "run": T + "noop"}}
        )
        for i in range(100):
            self.manager.fire("tick", {"i": i})
        output = run_burst_workers(
            1,
            timeout=90,
            triggers={"RECOVERY_INTERVAL": 0.01, "RQ_JOB_TIMEOUT": 20},
        )[0]
        statuses = {inst.status for inst in self.manager.storage}
        self.assertEqual(statuses, {"finished"}, output[-2000:])

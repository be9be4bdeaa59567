"""``triggers.rq``: the RQ code in one package, its old paths, and requeue as runner contract."""

from __future__ import annotations

import importlib
from unittest import mock

from django.test import SimpleTestCase, override_settings

from triggers.rq.jobs import JOB_PATH, closes_db_connections
from triggers.rq.runner import RQRunner
from triggers.runners import get_runner_class
from triggers.runners.base import BaseRunner
from triggers.runners.sync import SyncRunner
from triggers.types import TaskInstance


class OldPathsTests(SimpleTestCase):
    def test_old_module_names_are_the_new_modules(self):
        for old, new in [
            ("triggers.watch", "triggers.rq.watch"),
            ("triggers.jobs", "triggers.rq.jobs"),
            ("triggers.worker", "triggers.rq.worker"),
            ("triggers.runners.rq_runner", "triggers.rq.runner"),
        ]:
            with self.subTest(old):
                self.assertIs(importlib.import_module(old), importlib.import_module(new))

    def test_names_used_by_settings_and_queued_jobs_still_import(self):
        from triggers.jobs import run_instance
        from triggers.watch import Lease, Leases, control_connection, lease_alive
        from triggers.worker import SimpleWorker, Worker

        self.assertEqual(JOB_PATH, "triggers.jobs.run_instance")
        self.assertTrue(callable(run_instance) and callable(control_connection))
        self.assertTrue(callable(lease_alive))
        self.assertEqual(Lease.__module__, "triggers.rq.lease")
        self.assertEqual(Leases.__module__, "triggers.rq.lease")
        self.assertEqual({Worker.__module__, SimpleWorker.__module__}, {"triggers.rq.worker"})
        self.assertIs(get_runner_class("rq"), RQRunner)


class RequeueContractTests(SimpleTestCase):
    def test_only_runners_that_say_so_requeue(self):
        self.assertTrue(RQRunner.can_requeue)
        self.assertFalse(SyncRunner.can_requeue)
        self.assertFalse(BaseRunner.can_requeue)
        with self.assertRaisesRegex(NotImplementedError, "cannot requeue"):
            BaseRunner().requeue("cache", "uid", TaskInstance(name="t#0", task_name="t"))

    @override_settings(TRIGGERS={"RQ_QUEUE": "low"})
    def test_requeue_uses_the_recorded_queue_else_the_configured_one_never_default(self):
        runner = RQRunner()
        recorded = TaskInstance(name="t#0", task_name="t", metadata={"rq_queue": "high"})
        unrecorded = TaskInstance(name="t#1", task_name="t")
        with mock.patch.object(RQRunner, "enqueue") as enqueue:
            runner.requeue("cache", "uid", recorded, 2.0)
            runner.requeue("cache", "uid", unrecorded)
        self.assertEqual(
            enqueue.call_args_list,
            [
                mock.call("cache", "uid", "t#0", "high", 2.0),
                mock.call("cache", "uid", "t#1", "low", 0.0),
            ],
        )


def _job(x: int) -> int:
    if x < 0:
        raise ValueError("negative")
    return x * 2


class ClosesDbConnectionsTests(SimpleTestCase):
    def test_connections_are_closed_before_and_after_even_on_error(self):
        wrapped = closes_db_connections(_job)
        self.assertEqual((wrapped.__module__, wrapped.__qualname__), (__name__, "_job"))
        with mock.patch("triggers.rq.jobs.close_old_connections") as close:
            self.assertEqual(wrapped(2), 4)
            self.assertEqual(close.call_count, 2)
            with self.assertRaises(ValueError):
                wrapped(-1)
            self.assertEqual(close.call_count, 4)

    def test_collector_jobs_use_it(self):
        from collector_app import jobs, schedules
        from collector_app.gathering import jobs as gathering_jobs

        for job in (jobs.run_pipeline, gathering_jobs.run_gather, schedules.run_scheduled):
            with self.subTest(job.__qualname__):
                self.assertTrue(hasattr(job, "__wrapped__"))


class PubsubTeardownTests(SimpleTestCase):
    def test_the_pubsub_thread_is_told_to_stop_before_the_unsubscribe(self):
        """Otherwise it may handle the reply first and wait 60 s for a subscription."""
        import threading
        from unittest import mock

        from triggers.rq.worker import SimpleWorker

        worker = SimpleWorker.__new__(SimpleWorker)
        worker.log = mock.Mock()
        worker.name = "w"
        running = threading.Event()
        running.set()
        seen = []
        worker.pubsub_thread = mock.Mock(_running=running)
        worker.pubsub = mock.Mock()
        worker.pubsub.unsubscribe.side_effect = lambda: seen.append(running.is_set())
        worker.unsubscribe()
        self.assertEqual(seen, [False])
        worker.pubsub_thread.stop.assert_called_once()

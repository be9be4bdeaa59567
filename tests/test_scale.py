"""Costs that must not grow with the work (issue 18): Redis round trips, SQL statements and
what recovery reads. Counts only, never timings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import django_rq
from django.test import override_settings

from tests.support.helpers import SessionTestCase, new_uid
from tests.support.rq_helpers import reset_queues
from triggers import TriggerManager
from triggers.diagnostics import count_costs, count_round_trips
from triggers.jobs import run_instance
from triggers.recovery import recover
from triggers.watch import WATCH_KEY, watch

T = "tests.support.tasks."
EVERY = {"each": {"after": ["tick"], "andEvery": "tick", "run": T + "noop"}}


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
class RoundTrips(SessionTestCase):
    def setUp(self):
        reset_queues()
        self.manager = TriggerManager.for_session(new_uid("scale"))
        self.manager.update_configuration(EVERY)
        self.manager.fire("tick", {"i": -1})  # connections open, scripts loaded
        django_rq.get_queue("default").empty()

    def test_a_fire_with_the_rq_runner_takes_at_most_five_round_trips(self):
        with count_round_trips() as counts:
            scheduled = self.manager.fire("tick", {"i": 0})
        self.assertEqual(scheduled, ["each#1"])
        self.assertLessEqual(counts.redis, 5)
        self.assertEqual(counts.connects, 0)
        self.assertEqual(django_rq.get_queue("default").count, 1)

    def test_one_fire_enqueues_all_its_jobs_in_one_round_trip(self):
        self.manager.update_configuration(
            {f"t{n}": {"after": ["go"], "run": T + "noop"} for n in range(10)}
        )
        with count_round_trips() as counts:
            scheduled = self.manager.fire("go")
        self.assertEqual(len(scheduled), 10)
        # lock and reads, ten unstarted indexes, ten watch entries, the write, the enqueue
        self.assertLessEqual(counts.redis, 1 + 1 + 10 + 1 + 1)
        self.assertEqual(django_rq.get_queue("default").count, 10)

    def test_a_job_claims_and_finishes_its_instance_in_three_round_trips(self):
        self.manager.fire("tick", {"i": 0})
        with count_costs() as counts:
            outcome = run_instance("cache", self.manager.session_uid, "each#1")
        self.assertEqual(outcome["status"], "finished")
        # the claim script (with the lease); finish: lock with reads, the commit script (which
        # also ends the watch entry and the lease). It was 6: claim 2, lease 1, finish 2, ZREM 1.
        self.assertLessEqual(counts.redis, 3)
        self.assertEqual(counts.sql, 0)
        self.assertEqual(self.manager.storage["each#1"].status, "finished")

    def test_a_unit_of_work_that_waits_for_the_lock_still_reads_under_it(self):
        self.manager.fire("tick", {"i": 0})
        storage = self.manager.storage
        with storage.acquire_lock():  # held from the start of the block, before any read
            other = TriggerManager.for_session(self.manager.session_uid)
            other.storage._lock_wait = 0.2
            with self.assertRaisesRegex(Exception, "lock not acquired"):
                other.fire("tick", {"i": 1})
        self.assertEqual(len(storage), 2, "the refused fire wrote nothing")


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class DbStatements(SessionTestCase):
    def test_a_fire_on_the_db_storage_costs_a_bounded_number_of_statements(self):
        manager = TriggerManager.for_session(new_uid("scale-db"), "db")
        manager.update_configuration(EVERY)
        manager.fire("tick", {"i": -1})
        small = self.statements(manager)
        for i in range(40):
            manager.fire("tick", {"i": i})
        self.assertEqual(self.statements(manager), small, "independent of the session's size")
        # create + schedule, claim, finish: three units of work of at most 6 statements each
        self.assertLessEqual(small, 3 * 6)

    def statements(self, manager):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            manager.fire("tick", {"i": 0})
        transaction_control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
        return sum(1 for q in queries if not q["sql"].startswith(transaction_control))


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_GRACE": 30.0, "LEASE_TIMEOUT": 30.0})
class RecoveryReadsOnlyWhatMayNeedRepair(SessionTestCase):
    def setUp(self):
        reset_queues()
        self.redis = django_rq.get_connection("default")

    def fill(self, storage, n):
        manager = TriggerManager.for_session(new_uid("scale-rec"), storage)
        manager.update_configuration(EVERY)
        for i in range(n):
            manager.fire("tick", {"i": i})
        return manager

    def test_young_entries_are_not_read(self):
        self.fill("cache", 20)
        self.assertEqual(self.redis.zcard(WATCH_KEY), 20)
        with mock.patch("triggers.recovery.get_manager") as get_manager:
            report = recover()
        get_manager.assert_not_called()
        self.assertEqual(report.checked, 0)

    def test_old_entries_are_read_once_per_session_and_the_pass_is_capped(self):
        manager = self.fill("cache", 20)
        later = datetime.now(UTC) + timedelta(seconds=31)
        with count_round_trips() as counts:
            report = recover(now=later, limit=8)
        self.assertEqual(report.checked, 8)
        self.assertEqual(len(report.requeued), 0, "their jobs are still queued")
        # flush counts, the watch list, one read of the session, one pipeline of job statuses
        self.assertLessEqual(counts.redis, 6)
        report = recover(now=later)
        self.assertEqual(report.checked, 20)
        self.assertEqual({i.status for i in manager.storage}, {"scheduled"})

    def test_a_lost_job_past_its_grace_is_still_enqueued_again(self):
        manager = self.fill("cache", 3)
        django_rq.get_queue("default").empty()
        for inst in manager.storage:  # the jobs are gone
            self.redis.delete(f"rq:job:{inst.metadata['rq_job_id']}")
        watch(self.redis, "cache", manager.session_uid, "each#0")
        report = recover(now=datetime.now(UTC) + timedelta(seconds=31))
        self.assertEqual(len(report.requeued), 3)
        self.assertEqual(django_rq.get_queue("default").count, 3)

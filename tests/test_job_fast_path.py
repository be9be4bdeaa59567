"""The rq job's fast path on the cache storage (issue 18): the claim script, the finish that
ends the watch in the commit script, and what they leave in Redis, against the generic path."""

from __future__ import annotations

import json
from contextlib import contextmanager
from unittest import mock

import django_rq
from django.test import override_settings

from tests.support.helpers import SessionTestCase, new_uid
from tests.support.rq_helpers import reset_queues
from triggers import TriggerManager
from triggers.diagnostics import count_costs
from triggers.rq import lease
from triggers.rq.jobs import run_instance
from triggers.storages.cache_index import CacheIndex
from triggers.watch import lease_key, watched

T = "tests.support.tasks."
EVERY = {"each": {"after": ["tick"], "andEvery": "tick", "run": T + "noop"}}


def index_state(storage):
    """Every index key of the session, with its content (scores included)."""
    kv = storage.kv
    index = CacheIndex(storage, kv)
    client, raw = kv.client, kv.raw_key
    chunks = sorted(client.smembers(raw(index.chunks_key)))
    return {
        "chunks": {key: client.zrange(key, 0, -1, withscores=True) for key in chunks},
        "old layout": client.exists(raw(index.all_key), raw(index.task_key("each"))),
        "marker": client.get(raw(index.marker_key)),
        "counts": client.hgetall(raw(index.counts_key)),
        "logs": client.smembers(raw(index.logs_key)),
        "statuses": client.hgetall(raw(storage.key("statuses"))),
    }


def records(storage):
    kv = storage.kv
    names = sorted(inst.name for inst in storage)
    return {name: kv.get_many([storage.instance_key(name)]) for name in names}


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
class ClaimScript(SessionTestCase):
    def setUp(self):
        reset_queues()

    def session(self, uid=None):
        manager = TriggerManager.for_session(uid or new_uid("claim"))
        manager.update_configuration(EVERY)
        for i in range(3):
            manager.fire("tick", {"i": i, "nested": {"s": "scheduled", "list": []}})
        return manager

    def claimed_state(self, uid, fast):
        """Records and index of a fresh session ``uid`` after two claims, one way or the other."""
        with mock_now("2026-12-07T10:00:00.123456+00:00"):
            manager = self.session(uid)
        with mock_now("2026-12-07T11:00:00+00:00"):
            for name in ("each#0", "each#1"):
                if fast:
                    claimed = manager.storage.claim_scheduled(name)
                    self.assertIsNotNone(claimed, name)
                    instance, config = claimed
                    self.assertEqual(instance.status, "running")
                    self.assertEqual(config.name, "each")
                    self.assertIn('"s": "scheduled"', json.dumps(instance.kwargs))
                else:
                    self.assertIsNotNone(manager.start_instance(name))
        state = records(manager.storage), index_state(manager.storage)
        summary = manager.storage.status_summary()
        manager.storage.delete()
        return state, summary

    def test_the_script_and_the_unit_of_work_leave_the_same_records_and_index(self):
        uid = new_uid("claim")
        (fast_records, fast_index), fast_summary = self.claimed_state(uid, fast=True)
        (slow_records, slow_index), slow_summary = self.claimed_state(uid, fast=False)
        self.assertEqual(fast_records, slow_records)  # byte for byte
        self.assertIn('"l":"r","r":', str(fast_records["each#0"]))  # D's layout: "T" codes
        self.assertIn('"s":"running"', str(fast_records["each#0"]))
        self.assertEqual(fast_index, slow_index)
        self.assertEqual(len(fast_index["chunks"]), 2)  # the scheduled and the running chunk
        self.assertEqual(fast_index["old layout"], 0)
        self.assertEqual(fast_index["counts"], {b"running:each": b"2", b"scheduled:each": b"1"})
        self.assertEqual(fast_summary, slow_summary)

    def test_what_the_script_is_not_sure_of_is_left_to_the_unit_of_work(self):
        manager = self.session()
        storage = manager.storage
        self.assertIsNone(storage.claim_scheduled("each#9"), "missing")
        manager.start_instance("each#0")
        self.assertIsNone(storage.claim_scheduled("each#0"), "already running")
        with storage.acquire_lock():
            self.assertIsNone(storage.claim_scheduled("each#1"), "session locked")
        manager.update_configuration({"other": {"after": ["x"], "run": T + "noop"}}, replace=True)
        self.assertIsNone(storage.claim_scheduled("each#1"), "task no longer configured")
        self.assertEqual(storage["each#1"].status, "scheduled")
        self.assertIsNone(manager.start_instance("each#1"))
        self.assertEqual(storage["each#1"].status, "failed", "the generic path decided")

    def test_records_of_earlier_layouts_and_unindexed_instances_go_the_generic_way(self):
        from triggers.storages.cache_index import CacheIndex

        manager = self.session()
        storage, kv = manager.storage, manager.storage.kv
        client, key = kv.client, kv.raw_key(storage.instance_key("each#0"))
        stored = json.loads(client.get(key))
        first_compact = {"s": stored["s"], "k": stored["k"], "m": {"timestamps": {"created": 1}}}
        client.set(key, json.dumps(first_compact))
        self.assertIsNone(storage.claim_scheduled("each#0"), "first compact layout")
        client.set(key, json.dumps(storage["each#1"].to_dict() | {"name": "each#0"}))
        self.assertIsNone(storage.claim_scheduled("each#0"), "full layout")
        index = CacheIndex(storage, kv)
        client.zrem(kv.raw_key(index.chunk_key("each", "scheduled", "each#1")), "each#1")
        self.assertIsNone(storage.claim_scheduled("each#1"), "not in its chunk")
        self.assertEqual(storage["each#1"].status, "scheduled")
        self.assertIsNotNone(manager.start_instance("each#1"), "the generic path claims it")
        self.assertIsNotNone(storage.claim_scheduled("each#2"), "a current record and index")

    def test_the_claim_takes_the_lease_in_the_same_round_trip(self):
        manager = self.session()
        connection = django_rq.get_connection("default")
        key = lease_key("cache", manager.session_uid, "each#2")
        manager.storage.claim_scheduled("each#9")  # the script loaded
        with count_costs(keep_commands=True) as counts:
            claimed = manager.storage.claim_scheduled("each#2", key, 30_000)
        self.assertIsNotNone(claimed)
        self.assertEqual(counts.redis, 1, counts.commands)
        self.assertGreater(connection.pttl(key), 20_000)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "LEASE_TIMEOUT": 30.0})
class JobRoundTrips(SessionTestCase):
    def setUp(self):
        reset_queues()
        self.manager = TriggerManager.for_session(new_uid("fast"))
        self.manager.update_configuration(EVERY)
        self.manager.fire("tick", {"i": -1})
        run_instance("cache", self.manager.session_uid, "each#0")  # scripts loaded
        self.redis = django_rq.get_connection("default")

    def test_a_job_takes_two_round_trips_and_leaves_no_watch_entry_or_lease(self):
        self.manager.fire("tick", {"i": 0})
        uid = self.manager.session_uid
        self.assertIn(("cache", uid, "each#1"), watched(self.redis))
        with count_costs(keep_commands=True) as counts:
            outcome = run_instance("cache", uid, "each#1")
        self.assertEqual(outcome["status"], "finished")
        # the claim script (with the lease), the lock with its reads, the finish script
        self.assertEqual(counts.redis, 3, counts.commands)
        self.assertEqual(counts.sql, 0)
        self.assertNotIn(("cache", uid, "each#1"), watched(self.redis))
        self.assertFalse(self.redis.exists(lease_key("cache", uid, "each#1")))
        self.assertEqual(self.manager.storage["each#1"].status, "finished")
        self.assertEqual(self.manager.storage.status_summary().tasks["each"], {"finished": 2})

    def test_a_duplicate_delivery_runs_nothing_and_leaves_the_watch_alone(self):
        self.manager.fire("tick", {"i": 0})
        uid = self.manager.session_uid
        self.manager.start_instance("each#1")  # someone else runs it
        self.assertEqual(run_instance("cache", uid, "each#1"), {"instance": "each#1", "ran": False})
        self.assertIn(("cache", uid, "each#1"), watched(self.redis))

    def test_a_failing_task_also_ends_its_watch_in_the_finish_script(self):
        self.manager.update_configuration({"bad": {"after": ["boom"], "run": T + "boom"}})
        self.manager.fire("boom")
        uid = self.manager.session_uid
        outcome = run_instance("cache", uid, "bad#0")
        self.assertEqual(outcome["status"], "failed")
        self.assertNotIn(("cache", uid, "bad#0"), watched(self.redis))
        self.assertFalse(self.redis.exists(lease_key("cache", uid, "bad#0")))

    def test_no_thread_is_started_per_job(self):
        import threading

        self.manager.fire("tick", {"i": 0})
        self.manager.fire("tick", {"i": 1})
        run_instance("cache", self.manager.session_uid, "each#1")
        before = threading.active_count()
        run_instance("cache", self.manager.session_uid, "each#2")
        self.assertEqual(threading.active_count(), before)
        self.assertEqual(lease.process_leases().held(), [])


@contextmanager
def mock_now(stamp):
    """Every stamp ``stamp``, on both paths."""
    with mock.patch("triggers.types.now", return_value=stamp):
        with mock.patch("triggers.storages.cache.now", return_value=stamp):
            yield


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "LEASE_TIMEOUT": 0.3})
class LongJobOutsideOurWorker(SessionTestCase):
    """On a plain ``rq`` worker (no ``triggers.rq.worker.Worker`` watching), the process's one
    renewal thread keeps a long job's lease alive; the finish script then deletes it."""

    def test_the_lease_outlives_its_timeout_while_the_task_runs(self):
        import threading
        import time

        reset_queues()
        manager = TriggerManager.for_session(new_uid("long"))
        manager.update_configuration({"slow": {"after": ["start"], "run": T + "sleep_for"}})
        manager.fire("start", {"sleep": 1.2})
        redis = django_rq.get_connection("default")
        key = lease_key("cache", manager.session_uid, "slow#0")
        outcome = {}
        job = threading.Thread(
            target=lambda: outcome.update(run_instance("cache", manager.session_uid, "slow#0"))
        )
        job.start()
        time.sleep(0.9)  # three times LEASE_TIMEOUT
        alive = redis.exists(key)
        job.join()
        self.assertTrue(alive, "renewed while the task ran")
        self.assertEqual(outcome["status"], "finished")
        self.assertFalse(redis.exists(key), "deleted by the write that saved the outcome")
        self.assertEqual(lease.process_leases().held(), [])

"""The status index (issue 18): per-task counts and failed-first pages read without loading
every instance, kept by the backends in the same write. Counts only, never timings."""

from __future__ import annotations

from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.diagnostics import count_round_trips
from triggers.storages.cache_index import CacheIndex
from triggers.storages.status_index import full_scan_page, summarize

T = "tests.support.tasks."
CONFIG = {
    "ok": {"after": ["go"], "andEvery": "go", "run": T + "noop"},
    "bad": {"after": ["go"], "andEvery": "go", "run": T + "boom"},
    "later": {"after": ["never"], "run": T + "noop"},
}


SYNC = override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})


class IndexContract:
    storage_name = ""

    def make(self, fires: int) -> TriggerManager:
        manager = TriggerManager.for_session(new_uid("index"), self.storage_name)
        manager.update_configuration(CONFIG)
        for i in range(fires):
            manager.fire("go", {"i": i})
        return manager

    def test_counts_and_pages_match_a_full_scan(self):
        storage = self.make(7).storage
        summary = storage.status_summary()
        self.assertEqual(summary.tasks, summarize(iter(storage)).tasks)
        self.assertEqual(summary.counts["failed"], 7)
        self.assertEqual(summary.counts["finished"], 7)
        self.assertEqual(summary.total, 14)
        whole = [inst.name for inst in full_scan_page(storage, 0, 100)]
        self.assertTrue(all(name.startswith("bad#") for name in whole[:7]))
        for offset, limit in [(0, 100), (0, 3), (5, 4), (7, 7), (13, 5), (20, 5)]:
            page = [inst.name for inst in storage.instances_page(offset, limit)]
            self.assertEqual(page, whole[offset : offset + limit], (offset, limit))
        only_ok = [inst.name for inst in storage.instances_page(2, 3, task="ok")]
        self.assertEqual(only_ok, [inst.name for inst in full_scan_page(storage, 2, 3, "ok")])
        self.assertEqual(storage.instances_page(0, 10, task="later"), [])

    def test_unresolved_logs_are_flagged(self):
        manager = self.make(1)
        self.assertTrue(manager.storage["bad#0"].has_unresolved_logs)
        self.assertTrue(manager.storage.status_summary().unresolved_logs)
        manager.mark_instance_logs_resolved("bad#0")
        self.assertFalse(manager.storage.status_summary().unresolved_logs)

    def test_replay_moves_the_instance_out_of_failed(self):
        manager = self.make(2)
        manager.replay_failed_instance("bad#0")
        summary = manager.storage.status_summary()
        self.assertEqual(summary.tasks, summarize(iter(manager.storage)).tasks)
        self.assertEqual(summary.tasks["bad"]["replayed"], 1)


@SYNC
class CacheIndexTests(IndexContract, SessionTestCase):
    storage_name = "cache"

    def read_costs(self, fires: int) -> tuple[int, int]:
        storage = self.make(fires).storage
        storage.status_summary()  # scripts loaded, connection open
        storage.instances_page(0, 1)
        with count_round_trips() as summary_costs:
            storage.status_summary()
        with count_round_trips() as page_costs:
            self.assertEqual(len(storage.instances_page(0, 5)), 5)
        return summary_costs.redis, page_costs.redis

    def test_a_page_read_does_not_grow_with_the_session(self):
        small, big = self.read_costs(3), self.read_costs(60)
        self.assertEqual(small, big)
        self.assertEqual(big, (1, 3))  # the summary; names, instances, configurations

    def test_a_session_stored_before_the_index_gets_it_built_once(self):
        storage = self.make(4).storage
        expected = [inst.name for inst in full_scan_page(storage, 0, 100)]
        index = CacheIndex(storage, storage.kv)
        storage.kv.delete_many(index.keys(sorted(CONFIG)))
        self.assertEqual(storage.status_summary().tasks, summarize(iter(storage)).tasks)
        self.assertEqual([inst.name for inst in storage.instances_page(0, 100)], expected)
        with count_round_trips() as costs:
            storage.status_summary()
        self.assertEqual(costs.redis, 1)  # built: no second build

    def test_pages_merged_across_tasks_match_a_full_scan(self):
        """Three tasks, ties on the creation time (broken by name, as a full scan does), every
        offset: the merged page is the full scan's slice, and each instance is indexed once."""
        manager = TriggerManager.for_session(new_uid("index"), "cache")
        manager.update_configuration(CONFIG)
        storage = manager.storage
        statuses = ["finished", "failed", "unstarted", "running", "skipped"]
        with storage.transaction() as state:
            for i in range(40):
                inst = state.new_instance(
                    ["ok", "bad", "later"][i % 3], {"i": i}, status=statuses[i % 5]
                )
                # seconds apart, several at the same time (ties: by name)
                second = 0 if i % 4 == 0 else 40 - i
                stamps = inst.metadata["timestamps"]
                stamps["created"] = f"2026-12-07T12:00:{second:02d}+00:00"
                state.save_instance(inst)
        whole = [inst.name for inst in full_scan_page(storage, 0, 100)]
        self.assertEqual(len(whole), 40)
        for offset in range(0, 42):
            for limit in (1, 3, 7):
                page = [inst.name for inst in storage.instances_page(offset, limit)]
                self.assertEqual(page, whole[offset : offset + limit], (offset, limit))
        index = CacheIndex(storage, storage.kv)
        client = storage.kv.client
        chunks = client.smembers(storage.kv.raw_key(index.chunks_key))
        self.assertEqual(sum(client.zcard(key) for key in chunks), 40)  # each indexed once
        encodings = {client.object("encoding", key) for key in chunks}
        self.assertLessEqual(encodings, {b"listpack", b"ziplist"})  # compact, not a skiplist
        for task in CONFIG:
            for offset, limit in [(0, 20), (3, 4), (10, 10)]:
                page = [inst.name for inst in storage.instances_page(offset, limit, task)]
                expected = full_scan_page(storage, offset, limit, task)
                self.assertEqual(page, [inst.name for inst in expected], (task, offset))

    def test_chunks_stay_small_and_empty_ones_go(self):
        """300 instances of one task: chunks of at most 128 in the compact encoding; once all
        are finished, the other ranks' chunks are gone from Redis and from ``:xt``."""
        manager = TriggerManager.for_session(new_uid("index"), "cache")
        manager.update_configuration(CONFIG)
        storage = manager.storage
        with storage.transaction() as state:
            for i in range(300):
                state.new_instance("ok", {"i": i}, status="failed" if i % 2 else "unstarted")
        index = CacheIndex(storage, storage.kv)
        client, raw = storage.kv.client, storage.kv.raw_key
        chunks = client.smembers(raw(index.chunks_key))
        self.assertEqual(len(chunks), 6)  # numbers 0-127, 128-255, 256-299; two ranks
        self.assertTrue(all(client.zcard(key) <= 64 for key in chunks))
        names = [inst.name for inst in full_scan_page(storage, 0, 300)]
        for offset in (0, 60, 149, 150, 151, 290):
            page = [inst.name for inst in storage.instances_page(offset, 12)]
            self.assertEqual(page, names[offset : offset + 12], offset)
        with storage.transaction() as state:
            for inst in state.all_instances():
                inst.status = "finished"
                state.save_instance(inst)
        chunks = client.smembers(raw(index.chunks_key))
        self.assertEqual(len(chunks), 3)
        self.assertTrue(all(key.decode().endswith((":9:0", ":9:1", ":9:2")) for key in chunks))
        self.assertEqual(sum(client.zcard(key) for key in chunks), 300)
        self.assertEqual(storage.status_summary().tasks, {"ok": {"finished": 300}})
        self.assertEqual(len(client.keys(raw(index.task_key("ok")) + ":*")), 3)

    def test_an_index_in_the_first_layout_is_rebuilt_once(self):
        storage = self.make(3).storage
        expected = [inst.name for inst in full_scan_page(storage, 0, 100)]
        index = CacheIndex(storage, storage.kv)
        client, raw = storage.kv.client, storage.kv.raw_key
        index.delete(sorted(CONFIG))
        client.zadd(raw(index.all_key), {"ok#0": 1.0})  # as the first layout kept them
        client.zadd(raw(index.task_key("ok")), {"ok#0": 1.0})
        client.hset(raw(index.counts_key), "finished:ok", 3)
        client.set(raw(index.marker_key), "1")
        self.assertEqual([inst.name for inst in storage.instances_page(0, 100)], expected)
        self.assertEqual(client.get(raw(index.marker_key)), b"2")
        self.assertEqual(client.exists(raw(index.all_key), raw(index.task_key("ok"))), 0)
        with count_round_trips() as costs:
            storage.instances_page(0, 2)
        self.assertEqual(costs.redis, 3)  # built: no second build

    def test_deleting_the_session_deletes_its_index(self):
        storage = self.make(2).storage
        index = CacheIndex(storage, storage.kv)
        chunks = storage.kv.client.smembers(storage.kv.raw_key(index.chunks_key))
        self.assertTrue(chunks)
        storage.delete()
        raw = [storage.kv.raw_key(key) for key in index.keys(sorted(CONFIG))]
        self.assertEqual(storage.kv.client.exists(*raw, *chunks), 0)
        self.assertEqual(storage.kv.client.keys(storage.kv.raw_key(storage.key("*"))), [])


@SYNC
class DbIndexTests(IndexContract, SessionTestCase):
    storage_name = "db"

    def read_costs(self, fires: int) -> tuple[int, int]:
        storage = self.make(fires).storage
        with CaptureQueriesContext(connection) as summary_costs:
            storage.status_summary()
        with CaptureQueriesContext(connection) as page_costs:
            self.assertEqual(len(storage.instances_page(0, 5)), 5)
        return len(summary_costs), len(page_costs)

    def test_a_page_read_does_not_grow_with_the_session(self):
        # the counts, the failed instances' names, the rows of those five (logs: none read)
        self.assertEqual(self.read_costs(20), self.read_costs(80))


@SYNC
class AdminPageCosts(SessionTestCase):
    """The session page and its live endpoint read the index and one page, whatever the size."""

    def costs(self, storage_name: str, fires: int, view: str) -> tuple[int, int, int]:
        """Redis round trips, SQL statements and instances read by one page view (5 a page)."""
        from unittest import mock

        from triggers.types import TaskInstance

        built = []
        init = TaskInstance.__init__

        def counting_init(inst: TaskInstance, *args, **kwargs) -> None:
            built.append(1)
            init(inst, *args, **kwargs)

        with (
            mock.patch("triggers.admin_views.PER_PAGE", 5),
            mock.patch.object(TaskInstance, "__init__", counting_init),
        ):
            redis, sql = self.view_costs(storage_name, fires, view, built)
        return redis, sql, len(built)

    def view_costs(
        self, storage_name: str, fires: int, view: str, built: list[int]
    ) -> tuple[int, int]:
        from django.contrib.auth.models import User
        from django.urls import reverse

        from triggers.diagnostics import count_costs
        from triggers.models import TriggerSession

        manager = TriggerManager.for_session(new_uid("page"), storage_name)
        manager.update_configuration(CONFIG)
        for i in range(fires):
            manager.fire("go", {"i": i})
        session = TriggerSession.objects.get(uid=manager.session_uid)
        url = reverse(f"admin:triggers_triggersession_{view}", args=[session.pk])
        user = User.objects.filter(username="boss").first()
        user = user or User.objects.create_superuser("boss", "boss@example.com", "x")
        self.client.force_login(user)
        self.assertEqual(self.client.get(url).status_code, 200)  # warm: sessions, scripts
        built.clear()
        with count_costs() as counts:
            response = self.client.get(url, {"page": 1})
        self.assertEqual(response.status_code, 200)
        return counts.redis, counts.sql

    def test_live_endpoint_costs_do_not_grow_with_the_session(self):
        for storage_name in ("cache", "db"):
            with self.subTest(storage=storage_name):
                small = self.costs(storage_name, 10, "live")
                self.assertEqual(small, self.costs(storage_name, 40, "live"))

    def test_session_page_costs_do_not_grow_with_the_session(self):
        small = self.costs("cache", 10, "change")
        self.assertEqual(small, self.costs("cache", 40, "change"))

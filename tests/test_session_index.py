"""``SessionIndex``: one session's row in the session table, and its per-status counts."""

from __future__ import annotations

import importlib
from unittest import mock

from django.test import SimpleTestCase, TestCase, override_settings

from tests.support.backends import JsonDocumentStorage
from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.models import TriggerSession
from triggers.session_index import SessionIndex, count_deltas, task_count_deltas, task_counts
from triggers.storages import get_storage
from triggers.storages.base import BaseTriggerStorage
from triggers.storages.cache import CacheStorageBackend
from triggers.storages.cache_primitives import RedisKV
from triggers.types import TaskInstance

T = "tests.support.tasks."


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class SessionIndexTests(TestCase):
    def test_register_add_and_recount(self):
        index = SessionIndex(new_uid("index"), "cache")
        session = index.register()
        self.assertEqual((session.storage, session.n_unstarted), ("cache", 0))
        index.add({"unstarted": 2, "failed": 1})
        index.add({"unstarted": -1, "scheduled": 1})
        session.refresh_from_db()
        self.assertEqual(
            {k: v for k, v in session.status_counts.items() if v},
            {"unstarted": 1, "scheduled": 1, "failed": 1},
        )
        SessionIndex.recount(session, instances=[])
        session.refresh_from_db()
        self.assertEqual(sum(session.status_counts.values()), 0)
        self.assertEqual(SessionIndex.field("failed"), "n_failed")

    def test_a_recount_adds_up_across_batches(self):
        index = SessionIndex(new_uid("index"), "cache")
        session = index.register()
        statuses = ["finished", "failed", "finished", "unstarted", "finished"]
        instances = []
        for i, status in enumerate(statuses):
            inst = TaskInstance(f"t#{i}", "t", {})
            inst.status = status
            instances.append(inst)
        with mock.patch("triggers.session_index.RECOUNT_BATCH", 2):
            SessionIndex.recount(session, instances=iter(instances))
        session.refresh_from_db()
        self.assertEqual(
            {k: v for k, v in session.status_counts.items() if v},
            {"finished": 3, "failed": 1, "unstarted": 1},
        )

    def test_a_document_backend_session_is_indexed_with_its_counts(self):
        uid = new_uid("index-doc")
        manager = TriggerManager(JsonDocumentStorage(uid))
        manager.update_configuration({"ok": {"after": ["go"], "run": "tests.support.tasks.noop"}})
        manager.fire("go")
        session = TriggerSession.objects.get(uid=uid)
        self.assertEqual(session.storage, "json-document")
        self.assertEqual({k: v for k, v in session.status_counts.items() if v}, {"finished": 1})

    def test_the_old_module_name_is_the_same_module(self):
        registry = importlib.import_module("triggers.registry")
        self.assertIs(registry, importlib.import_module("triggers.session_index"))
        self.assertIs(registry.flush_pending_counts, SessionIndex.flush_pending)
        self.assertIs(registry.refresh_summary, SessionIndex.recount)


class CountDeltaTests(SimpleTestCase):
    def test_moves_news_and_unchanged_instances(self):
        after = {
            "a#0": TaskInstance("a#0", "a", "running"),  # scheduled -> running
            "a#1": TaskInstance("a#1", "a", "unstarted"),  # new
            "b#0": TaskInstance("b#0", "b", "failed"),  # unchanged
            "b#1": TaskInstance("b#1", "b", "scheduled"),  # new (None: not read before)
        }
        before = {"a#0": "scheduled", "b#0": "failed", "b#1": None}
        self.assertEqual(
            task_count_deltas(before, after),
            {
                ("scheduled", "a"): -1,
                ("running", "a"): 1,
                ("unstarted", "a"): 1,
                ("scheduled", "b"): 1,
            },
        )
        self.assertEqual(count_deltas(before, after), {"running": 1, "unstarted": 1})
        self.assertEqual(
            task_counts(after.values()),
            {"a": {"running": 1, "unstarted": 1}, "b": {"failed": 1, "scheduled": 1}},
        )

    def test_a_move_within_one_status_adds_nothing(self):
        after = {"a#0": TaskInstance("a#0", "a", "failed")}
        self.assertEqual(count_deltas({"a#0": "failed"}, after), {})
        self.assertEqual(count_deltas({}, {}), {})


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class CountParityTests(SessionTestCase):
    """The same operations on ``cache`` (counts kept by its Lua commit script), ``db`` (counts
    in its own transaction) and a document backend (the base class's after-commit update): the
    session table, each backend's per-task index and a recount from the instances agree."""

    CONFIG = {
        "ok": {"after": ["go"], "andEvery": "go", "run": T + "noop"},
        "bad": {"after": ["go"], "andEvery": "go", "run": T + "boom"},
        "wait": {"after": ["go", "never"], "run": T + "noop"},
        "later": {"after": ["go", "never"], "run": T + "noop"},
    }
    EXPECTED = {
        "ok": {"finished": 3},
        "bad": {"failed": 2, "replayed": 1, "skipped": 1},
        "wait": {"failed": 1},
        "later": {"abandoned": 1},
    }

    def run_operations(self, storage: BaseTriggerStorage) -> None:
        manager = TriggerManager(storage)
        manager.update_configuration(self.CONFIG)
        for i in range(3):
            manager.fire("go", {"i": i})
        manager.replay_failed_instance("bad#0")  # its clone, bad#3, fails too
        manager.skip_failed_instance("bad#1")
        manager.update_instance_status("wait#0", "scheduled")
        manager.abort_instance("wait#0", reason="parity")
        manager.update_instance_status("later#0", "abandoned")

    def counts_of(self, storage: BaseTriggerStorage) -> dict[str, dict]:
        self.run_operations(storage)
        SessionIndex.flush_pending()  # what the cache script staged in Redis, into the table
        row = TriggerSession.objects.get(uid=storage.uid)
        instances = list(storage)
        return {
            "table": {status: n for status, n in row.status_counts.items() if n},
            "index": storage.status_summary().tasks,
            "recount": count_deltas({}, {inst.name: inst for inst in instances}),
            "task_recount": task_counts(instances),
        }

    def test_cache_db_and_base_counts_agree(self):
        cache = get_storage(new_uid("parity-cache"), "cache")
        assert isinstance(cache, CacheStorageBackend)
        self.assertIsInstance(cache.kv, RedisKV)  # the Lua-kept counts, not the fallback
        results = {
            "cache": self.counts_of(cache),
            "db": self.counts_of(get_storage(new_uid("parity-db"), "db")),
            "document": self.counts_of(JsonDocumentStorage(new_uid("parity-doc"))),
        }
        expected_totals = {"finished": 3, "failed": 3, "replayed": 1, "skipped": 1, "abandoned": 1}
        for backend, counts in results.items():
            with self.subTest(backend=backend):
                self.assertEqual(counts["table"], expected_totals)
                self.assertEqual(counts["recount"], expected_totals)
                self.assertEqual(counts["index"], self.EXPECTED)
                self.assertEqual(counts["task_recount"], self.EXPECTED)

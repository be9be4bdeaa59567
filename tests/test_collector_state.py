"""Collector state: both stores through the contract, keys, the API, locking, components, tasks."""

from __future__ import annotations

import os
import stat
import threading
import time
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection, connections
from django.test import SimpleTestCase, override_settings
from django.utils import timezone

from collector_app.models import CollectorLock, CollectorState
from collector_app.state import (
    CollectorBusyError,
    CorruptStateError,
    InvalidStateError,
    LockLostError,
    StateError,
    collector_key,
    collector_lock,
    get_state_store,
    task_state,
)
from collector_app.state.contract import ODD_KEYS, StateStoreContractTests
from collector_app.state.db import DatabaseStateStore
from collector_app.state.file import TEMP_PREFIX, FileStateStore
from collector_app.state.running import run_configured
from tests.support.helpers import SessionTestCase, new_uid
from tests.support.state_collectors import Counter, Strict
from triggers import TriggerManager
from triggers.testing import TriggerTestMixin


def _fail_after_state_write(execute, sql, params, many, context):
    result = execute(sql, params, many, context)  # the row is written (not yet committed) ...
    if "collectorstate" in sql and sql.lstrip().upper().startswith(("UPDATE", "INSERT")):
        raise OperationalError("injected crash after the write, before the commit")
    return result


class DatabaseStoreContract(StateStoreContractTests, SessionTestCase):
    def make_store(self):
        return DatabaseStateStore()

    def crash_during_save(self):
        return connection.execute_wrapper(_fail_after_state_write)

    def corrupt(self, store, key):
        if connection.vendor != "sqlite":
            self.skipTest("only SQLite can be told to keep JSON that does not parse")
        with connection.cursor() as cursor:  # damaged outside Django, past the JSON check
            cursor.execute("PRAGMA ignore_check_constraints = ON")
            cursor.execute(
                f"UPDATE {CollectorState._meta.db_table} SET state = %s WHERE key = %s",
                ['{"runs": 1, "seen": [', key],
            )
            cursor.execute("PRAGMA ignore_check_constraints = OFF")

    def test_concurrent_saves_count_every_version(self):
        self.test_concurrent_saves_lose_no_version_and_never_tear()
        self.assertEqual(self.store.info(self.key).version, 40)  # 8 writers x 5 saves


class FileStoreContract(StateStoreContractTests, SimpleTestCase):
    def setUp(self):
        self.directory = self.tmp_path
        super().setUp()

    def make_store(self):
        return FileStateStore(self.directory)

    def crash_during_save(self):
        return mock.patch(
            "collector_app.state.file.os.replace", side_effect=OSError("injected: no rename")
        )

    def corrupt(self, store, key):
        text = store.path(key).read_text()
        store.path(key).write_text(text[: len(text) // 2])  # a torn write, as by another tool

    def test_files_stay_in_the_directory_with_safe_names(self):
        for key in ODD_KEYS:
            path = self.store.path(key)
            self.assertEqual(path.parent, self.directory)
            self.assertRegex(path.name, r"^[A-Za-z0-9._%~-]+\.json$")
        long_key = "x/" * 150 + ":1"
        self.save({"long": True}, key=long_key)
        self.assertLess(len(self.store.path(long_key).name), 200)
        self.assertEqual(self.store.load(long_key), {"long": True})

    def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(self):
        self.save({"n": 1})
        with (
            mock.patch("collector_app.state.file.os.fsync", side_effect=OSError("disk gone")),
            self.assertRaises(OSError),
        ):
            self.save({"n": 2})
        self.assertEqual(self.store.load(self.key), {"n": 1})
        self.assertEqual(
            [p.name for p in self.directory.iterdir()], [self.store.path(self.key).name]
        )

    def test_the_file_and_the_directory_are_fsynced(self):
        synced = []
        real = os.fsync

        def record(fd):
            synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
            real(fd)

        with mock.patch("collector_app.state.file.os.fsync", side_effect=record):
            self.save({"n": 1})
        self.assertEqual(synced, [False, True])  # the temporary file, then the directory
        self.assertEqual(stat.S_IMODE(self.store.path(self.key).stat().st_mode), 0o600)

    def test_leftover_temporary_files_are_ignored_and_corrupt_files_listed(self):
        self.save({"n": 1})
        (self.directory / f"{TEMP_PREFIX}crashed.json").write_text('{"half')
        (self.directory / "broken%3Aabc.json").write_text("not json")
        listed = {record.key: record for record in self.store.list()}
        self.assertEqual(set(listed), {self.key, "broken:abc"})
        self.assertIn("invalid JSON", listed["broken:abc"].error)

    def test_the_directory_is_required(self):
        with (
            override_settings(COLLECTORS={"STATE_STORE": "file"}),
            self.assertRaisesMessage(ImproperlyConfigured, "COLLECTORS['STATE_DIR']"),
        ):
            get_state_store()


class StoresAndKeys(SimpleTestCase):
    def test_stores_resolve_by_setting_entry_point_or_dotted_path(self):
        self.assertIsInstance(get_state_store(), DatabaseStateStore)
        with override_settings(COLLECTORS={"STATE_STORE": "file", "STATE_DIR": "/tmp/x"}):
            self.assertEqual(get_state_store().directory, Path("/tmp/x"))
        self.assertIsInstance(
            get_state_store("collector_app.state.file.FileStateStore", directory="/tmp"),
            FileStateStore,
        )
        names = {ep.name for ep in entry_points(group="collector_app.state_stores")}
        self.assertLessEqual({"db", "file"}, names)
        with (
            override_settings(COLLECTORS={"STATE_STORE": "redis"}),
            self.assertRaisesMessage(ImproperlyConfigured, "COLLECTORS['STATE_STORE']"),
        ):
            get_state_store()
        with self.assertRaisesMessage(ImproperlyConfigured, "not a collector_app.state.base"):
            get_state_store("tests.support.state_collectors.Counter")

    def test_keys_are_per_name_and_configuration(self):
        key = collector_key("feed", {"url": "https://a", "limit": 5})
        self.assertRegex(key, r"^feed:[0-9a-f]{12}$")
        self.assertEqual(key, collector_key("feed", {"limit": 5, "url": "https://a"}))
        self.assertNotEqual(key, collector_key("feed", {"url": "https://b", "limit": 5}))
        self.assertNotEqual(key, collector_key("other", {"url": "https://a", "limit": 5}))
        with self.assertRaisesMessage(ValueError, "configuration of collector 'feed'"):
            collector_key("feed", {"when": object()})
        for bad in ("", "x" * 201, "tab\there", None):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                collector_key(bad, {})


class StateApi(SessionTestCase):
    def test_the_default_is_not_stored_until_a_save(self):
        counter = Counter(name="feed", config={"url": "https://a"})
        self.assertEqual(counter.load_state(), {"runs": 0, "seen": []})
        self.assertFalse(CollectorState.objects.exists())
        counter.save_state({"runs": 1, "seen": []})
        row = CollectorState.objects.get()
        self.assertEqual((row.key, row.collector, row.version), (counter.state_key, "feed", 1))
        self.assertEqual(len(row.config_digest), 64)
        self.assertEqual(Counter(name="feed", config={"url": "https://a"}).load_state()["runs"], 1)

    def test_one_state_per_configuration_not_per_class(self):
        Counter(name="feed", config={"url": "https://a"}).run()
        Counter(name="feed", config={"url": "https://b"}).run()
        Counter(name="feed", config={"url": "https://b"}).run()
        runs = {row.key: row.state["runs"] for row in CollectorState.objects.all()}
        self.assertEqual(sorted(runs.values()), [1, 2])

    def test_a_state_the_collector_cannot_use_is_corrupt_not_reset(self):
        strict = Strict(name="strict", config={})
        strict.save_state({"runs": 3, "seen": []})
        CollectorState.objects.update(state=["not", "an", "object"])
        with self.assertRaises(CorruptStateError) as caught:
            strict.load_state()
        message = str(caught.exception)
        for part in ("'strict'", strict.state_key, "collector_app_collectorstate", "reset"):
            self.assertIn(part, message)
        self.assertEqual(CollectorState.objects.get().state, ["not", "an", "object"])
        with self.assertRaisesMessage(InvalidStateError, "'strict' refused to save"):
            strict.save_state({"runs": "three"})
        self.assertTrue(strict.reset_state())
        self.assertEqual(strict.load_state(), {"runs": 0, "seen": []})

    def test_corrupt_file_names_the_collector_and_the_file(self):
        directory = str(self.tmp_path)
        with override_settings(COLLECTORS={"STATE_STORE": "file", "STATE_DIR": directory}):
            counter = Counter(name="feed", config={})
            counter.save_state({"runs": 1, "seen": []})
            path = FileStateStore(directory).path(counter.state_key)
            path.write_text("{not json")
            with self.assertRaises(CorruptStateError) as caught:
                Counter(name="feed", config={}).load_state()
            self.assertIn("'feed'", str(caught.exception))
            self.assertIn(str(path), str(caught.exception))
            self.assertEqual(path.read_text(), "{not json")  # left for a human to look at

    def test_saving_after_each_update_resumes_after_a_crash(self):
        config = {"items": ["a", "b", "c"], "crash_at": "c"}
        with self.assertRaisesMessage(RuntimeError, "crashed at item 'c'"):
            Counter(name="items", config=config).run()
        counter = Counter(name="items", config=config)
        self.assertEqual(counter.load_state(), {"runs": 1, "seen": ["a", "b"]})
        self.assertEqual(counter.state_handle().info().version, 2)

    def test_a_component_without_a_pipeline_says_so(self):
        from tests.support.state_collectors import CountingSource

        with self.assertRaisesMessage(StateError, "does not know its pipeline"):
            CountingSource(0, "tests.state.counter", "alone").load_state()


def _in_thread(function, results, *args, **kwargs):
    def target():
        try:
            results.append(function(*args, **kwargs))
        except BaseException as exc:
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def attempt_elsewhere(name: str, **options):
    """Try the lock from another thread (the lock is re-entrant in its own): the outcome."""

    def attempt():
        lease = collector_lock(name, **options).acquire()
        lease.release()
        return lease

    results: list = []
    _in_thread(attempt, results).join()
    return results[0]


def hold_elsewhere(name: str, seconds: float = 60) -> None:
    """The lock row another process would hold."""
    now = timezone.now()
    CollectorLock.objects.create(
        key=name, owner="elsewhere:1:x", acquired=now, expires=now + timedelta(seconds=seconds)
    )


class Locking(SessionTestCase):
    def settings_for(self, log: Path, mode: str) -> dict:
        entry = {
            "class": "tests.support.state_collectors.Counter",
            "config": {"sleep": 0.4, "log": str(log)},
        }
        return {"CLASS_COLLECTORS": {"slow": entry}, "STATE_LOCK": mode, "STATE_LOCK_TIMEOUT": 30}

    def test_wait_mode_serialises_overlapping_runs(self):
        log = self.tmp_path / "log"
        results: list = []
        with override_settings(COLLECTORS=self.settings_for(log, "wait")):
            threads = [_in_thread(run_configured, results, "slow") for _ in range(2)]
            for thread in threads:
                thread.join()
            self.assertEqual([outcome.passed for outcome in results], [True, True])
            self.assertEqual(
                Counter(name="slow", config={"sleep": 0.4, "log": str(log)}).load_state()["runs"], 2
            )
        words = [line.split()[0] for line in log.read_text().splitlines()]
        self.assertEqual(words, ["start", "end", "start", "end"])  # never interleaved
        self.assertFalse(CollectorLock.objects.exists())  # released

    def test_refuse_mode_refuses_the_second_run(self):
        log = self.tmp_path / "log"
        results: list = []
        with override_settings(COLLECTORS=self.settings_for(log, "refuse")):
            hold_elsewhere("slow")
            _in_thread(run_configured, results, "slow").join()
            self.assertIsInstance(results[0], CollectorBusyError)
            self.assertIn("'slow' is being run by", str(results[0]))
            self.assertFalse(log.exists())  # the refused run did nothing
            CollectorLock.objects.all().delete()
            self.assertTrue(run_configured("slow").passed)

    def test_wait_mode_gives_up_after_the_timeout(self):
        with collector_lock("busy", mode="refuse") as held:
            started = time.monotonic()
            refused = attempt_elsewhere("busy", mode="wait", timeout=0.5)
            self.assertIsInstance(refused, CollectorBusyError)
            self.assertGreaterEqual(time.monotonic() - started, 0.5)
            self.assertIn(held.owner, str(refused))
        self.assertTrue(attempt_elsewhere("busy", mode="refuse").owner)  # free again

    def test_wait_mode_gets_the_lock_once_it_is_released(self):
        results: list = []
        with collector_lock("feed", mode="refuse"):
            thread = _in_thread(attempt_elsewhere, results, "feed", mode="wait", timeout=10)
            time.sleep(0.3)
        thread.join()
        self.assertNotIsInstance(results[0], Exception)

    def test_an_expired_lease_is_taken_over_and_its_saves_refused(self):
        results: list = []

        def freeze():
            stale = collector_lock("feed", lease=0.3).acquire()
            stale.stop_heartbeat()  # its process froze: no more heartbeats
            return stale

        _in_thread(freeze, results).join()
        stale = results[0]
        time.sleep(0.5)
        with collector_lock("feed", mode="refuse") as fresh:
            self.assertEqual(CollectorLock.objects.get(key="feed").owner, fresh.owner)
            Counter(name="feed", config={}).save_state({"runs": 1, "seen": []})
        with self.assertRaisesMessage(LockLostError, "could not be renewed"):
            stale.check()
        hold_elsewhere("held", seconds=60)
        self.assertIsInstance(attempt_elsewhere("held", mode="refuse"), CollectorBusyError)

    def test_the_heartbeat_keeps_a_long_run_locked_and_notices_a_takeover(self):
        with collector_lock("long", lease=0.3) as lease:
            time.sleep(0.8)  # longer than the lease: the heartbeat extended it
            self.assertIsInstance(attempt_elsewhere("long", mode="refuse"), CollectorBusyError)
            lease.check()
            CollectorLock.objects.filter(key="long").update(owner="someone else")
            time.sleep(0.3)
            with self.assertRaisesMessage(LockLostError, "another run took over"):
                Counter(name="long", config={}).save_state({"runs": 9, "seen": []})
        self.assertFalse(CollectorState.objects.exists())

    def test_the_lock_is_reentrant_in_its_thread_only(self):
        with collector_lock("feed", mode="refuse"), collector_lock("feed", mode="refuse"):
            self.assertIsInstance(attempt_elsewhere("feed", mode="refuse"), CollectorBusyError)
            self.assertTrue(CollectorLock.objects.exists())
        self.assertFalse(CollectorLock.objects.exists())

    def test_bad_lock_settings_name_the_setting(self):
        with (
            override_settings(COLLECTORS={"STATE_LOCK": "maybe"}),
            self.assertRaisesMessage(ImproperlyConfigured, "COLLECTORS['STATE_LOCK']"),
        ):
            collector_lock("x")


PIPELINE = {"sources": [{"type": "tests.state.counter", "id": "count", "config": {"token": "s1"}}]}


@override_settings(
    COLLECTORS={
        "PIPELINES": {"counting": PIPELINE},
        "COMPONENT_MODULES": ["tests.support.state_collectors"],
    },
    TRIGGERS={"DEFAULT_RUNNER": "sync"},
)
class ComponentsAndTasks(TriggerTestMixin, SessionTestCase):
    def test_a_component_keeps_state_per_pipeline_id_and_options(self):
        self.assertTrue(run_configured("counting").passed)
        outcome = run_configured("counting")
        self.assertEqual(outcome.journal.data["count"], {"runs": 2, "value": "v"})
        row = CollectorState.objects.get()
        self.assertEqual(row.collector, "counting/count")
        self.assertNotIn("s1", str(row.state))
        rotated = {"sources": [{**PIPELINE["sources"][0], "config": {"token": "s2"}}]}
        changed = {"sources": [{**PIPELINE["sources"][0], "config": {"value": "w"}}]}
        with override_settings(COLLECTORS={"PIPELINES": {"counting": rotated}}):
            self.assertEqual(run_configured("counting").journal.data["count"]["runs"], 3)
        with override_settings(COLLECTORS={"PIPELINES": {"counting": changed}}):
            self.assertEqual(run_configured("counting").journal.data["count"]["runs"], 1)
        self.assertEqual(CollectorState.objects.count(), 2)

    def test_named_pipelines_keep_component_state_in_jobs_and_tasks_too(self):
        from collector_app.runs import run_named

        self.assertEqual(list(CollectorState.objects.values_list("collector", "state")), [])
        self.assertEqual(run_named("counting").data["count"]["runs"], 1)
        self.manager = TriggerManager.for_session(new_uid("state-pipe"))
        self.manager.update_configuration(
            {"c": {"after": ["go"], "run": "collector_app.pipeline:counting"}}
        )
        self.manager.fire("go")
        self.assertEqual(self.assertInstanceFinished("c#0").result["count"]["runs"], 2)
        self.assertEqual(CollectorState.objects.get().collector, "counting/count")

    def test_a_named_pipeline_run_refuses_to_overlap_when_told(self):
        from collector_app.runs import run_named
        from collector_app.state import CollectorBusyError, collector_lock

        results = []
        refuse = {
            "PIPELINES": {"counting": PIPELINE},
            "COMPONENT_MODULES": ["tests.support.state_collectors"],
            "STATE_LOCK": "refuse",
        }
        with collector_lock("counting"), override_settings(COLLECTORS=refuse):
            _in_thread(run_named, results, "counting").join(10)
        self.assertIsInstance(results[0], CollectorBusyError)
        self.assertFalse(CollectorState.objects.exists())

    def test_a_trigger_task_keeps_state_per_session(self):
        config = {
            "count": {
                "after": ["start"],
                "andEvery": "start",
                "run": "tests.support.state_collectors.CountingTask",
            }
        }
        self.manager = TriggerManager.for_session(new_uid("state"))
        self.manager.update_configuration(config)
        self.manager.fire("start", {})
        self.manager.fire("start", {})
        self.assertInstanceFinished("count#1", {"runs": 2})
        other = TriggerManager.for_session(new_uid("state"))
        other.update_configuration(config)
        other.fire("start", {})
        self.assertEqual(other.storage["count#0"].result, {"runs": 1})
        self.assertFalse(CollectorLock.objects.exists())

    def test_task_state_helper(self):
        context = mock.Mock(session_uid="s-1", task_name="fetch")
        handle = task_state(context, make_default=dict, schema={"type": "object"})
        self.assertEqual(handle.load(), {})
        with handle.lock():
            handle.save({"cursor": 5})
        self.assertEqual(handle.key, collector_key("s-1/fetch", None))
        self.assertEqual(task_state(context).load(), {"cursor": 5})

"""Many writers on one session: nothing lost, and a stalled writer never overwrites newer state."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.test import override_settings

from tests.support.helpers import SessionTestCase, new_uid, subprocess_env
from triggers import TriggerManager
from triggers.exceptions import StaleWriteError
from triggers.storages.cache import CacheStorageBackend

ROOT = Path(__file__).resolve().parent.parent


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class ProcessesFiringTogether(SessionTestCase):
    workers = 4
    fires_each = 250

    def test_four_processes_firing_250_each_make_exactly_1000_instances(self):
        uid = new_uid("concurrency")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(
            {"every": {"after": ["tick"], "andEvery": "tick", "run": "tests.support.tasks.noop"}}
        )
        start_at = time.time() + 3.0
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.fire_worker",
                    uid,
                    str(index),
                    str(self.fires_each),
                    str(start_at),
                ],
                cwd=ROOT,
                env=subprocess_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(self.workers)
        ]
        for process in processes:
            out, err = process.communicate(timeout=300)
            self.assertEqual(process.returncode, 0, f"worker failed:\n{out}\n{err}")

        total = self.workers * self.fires_each
        instances = list(manager.storage)
        self.assertEqual(len(instances), total)
        self.assertEqual(
            sorted(inst.name for inst in instances),
            sorted(f"every#{n}" for n in range(total)),
        )
        self.assertEqual({inst.status for inst in instances}, {"finished"})
        received = {(inst.kwargs["tick"]["worker"], inst.kwargs["tick"]["i"]) for inst in instances}
        self.assertEqual(
            received,
            {(w, i) for w in range(self.workers) for i in range(self.fires_each)},
        )
        with manager.storage.transaction() as state:
            self.assertEqual(state.unstarted_names("every"), [])
            self.assertEqual(state.counts, {"every": total})


class StallingStorage(CacheStorageBackend):
    """Stalls its first commit for longer than its lock lives."""

    def __init__(self, uid, stall: float, **options):
        super().__init__(uid, **options)
        self.stall = stall
        self.stalled = threading.Event()

    def commit(self, state, changes, token):
        if self.stall:
            stall, self.stall = self.stall, 0.0
            self.stalled.set()
            time.sleep(stall)
        super().commit(state, changes, token)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class StalledWriter(SessionTestCase):
    config = {
        "on_x": {"after": ["x"], "andEvery": "x", "run": "tests.support.tasks.noop"},
        "on_y": {"after": ["y"], "andEvery": "y", "run": "tests.support.tasks.noop"},
    }

    def race(self):
        uid = new_uid("stall")
        TriggerManager.for_session(uid).update_configuration(self.config)
        stalling = StallingStorage(uid, stall=1.0, lock_timeout=0.3)
        slow = TriggerManager(stalling)
        errors: list[BaseException] = []

        def fire_x():
            try:
                slow.fire("x", {"from": "stalled writer"})
            except BaseException as exc:  # reported to the test thread
                errors.append(exc)

        thread = threading.Thread(target=fire_x)
        thread.start()
        self.assertTrue(stalling.stalled.wait(10))
        started = time.monotonic()
        TriggerManager.for_session(uid).fire("y", {"from": "fast writer"})
        fast_took = time.monotonic() - started
        thread.join(20)
        return uid, errors, fast_took

    def test_stalled_write_is_refused_and_retried_on_fresh_state(self):
        with self.assertLogs("triggers.manager", logging.WARNING) as logs:
            uid, errors, fast_took = self.race()
        self.assertEqual(errors, [])
        self.assertLess(fast_took, 0.9, "the fast writer waited for the stalled one")
        self.assertIn("refused as stale", "\n".join(logs.output))
        storage = CacheStorageBackend(uid)
        self.assertEqual(storage.latest_kwargs["x"], {"from": "stalled writer"})
        self.assertEqual(storage.latest_kwargs["y"], {"from": "fast writer"})
        self.assertEqual(storage["on_x#0"].status, "finished")
        self.assertEqual(storage["on_y#0"].status, "finished")
        self.assertEqual(len(storage), 2)

    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync", "MAX_ATTEMPTS": 1})
    def test_without_retries_the_stalled_writer_fails_loudly_and_writes_nothing(self):
        uid, errors, _ = self.race()
        self.assertEqual([type(error) for error in errors], [StaleWriteError])
        self.assertIn("lock expired", str(errors[0]))
        storage = CacheStorageBackend(uid)
        self.assertEqual(storage.latest_kwargs, {"y": {"from": "fast writer"}, "on_y": {}})
        self.assertNotIn("on_x#0", storage)
        self.assertEqual(storage["on_y#0"].status, "finished")

"""Run fences: a component that outlives its run (timed out, swallowing the timeout) writes
nothing afterwards: no state, no push item, no checkpoint; the lease check is by run token."""

from __future__ import annotations

import time

from django.test import override_settings

from collector_app.gathering.checkpoints import advance, load
from collector_app.models import CollectorLock, CollectorState
from collector_app.pushcollector import Collector
from collector_app.state import LockLostError, collector_lock
from collector_app.state.fence import RunEndedError
from collector_app.state.running import run_configured
from collector_app.timeouts import call_with_timeout
from tests.support import fence_components
from tests.support.helpers import SessionTestCase

STUBBORN = {
    "sources": [
        {
            "type": "tests.fence.stubborn",
            "id": "loop",
            "timeout": 0.3,
            "optional": True,
            "config": {"seconds": 1.5},
        }
    ]
}


@override_settings(
    COLLECTORS={
        "PIPELINES": {"stubborn": STUBBORN},
        "COMPONENT_MODULES": ["tests.support.fence_components"],
    }
)
class TimedOutComponents(SessionTestCase):
    def setUp(self):
        for values in fence_components.LOG.values():
            values.clear()

    def test_a_timed_out_component_never_writes_after_its_run(self):
        outcome = run_configured("stubborn")
        self.assertEqual(outcome.journal.entry("loop").status, "skipped-optional")
        saved_by_the_run = list(fence_components.LOG["saved"])
        stored_by_the_run = CollectorState.objects.get(collector="stubborn/loop").version
        # the next run of the same collector: the old thread must not write inside it
        with collector_lock("stubborn", mode="refuse"):
            time.sleep(1.5)  # the old thread goes on looping until its own deadline
        row = CollectorState.objects.get(collector="stubborn/loop")
        self.assertEqual(fence_components.LOG["saved"], saved_by_the_run)
        self.assertEqual(row.version, stored_by_the_run)  # nothing written after the run
        # Every save the component saw succeed is stored. The timeout's interrupt may land
        # between a save's commit and the component's note of it: then one more is stored.
        self.assertIn(row.version - len(saved_by_the_run), (0, 1))
        self.assertEqual(row.state["n"] - saved_by_the_run[-1], row.version - len(saved_by_the_run))
        refused = fence_components.LOG["refused"]
        self.assertTrue(refused, "the abandoned thread kept trying and was refused")
        later = [error for error in refused if not error.startswith("ComponentTimeout")]
        self.assertTrue(later)
        self.assertEqual({error.split(":")[0] for error in later}, {"RunEndedError"}, later[:3])
        self.assertIn("collector 'stubborn/loop': save_state refused", later[0])
        self.assertIn("timed out after 0.3s", later[0])
        self.assertLessEqual(len(fence_components.LOG["recorded"]), len(saved_by_the_run))

    def test_a_call_that_swallows_its_timeout_records_nothing_afterwards(self):
        attempts: list = []

        def careless():
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                try:
                    for _ in range(50_000):  # pure Python: the timeout's interrupt lands here
                        pass
                    Collector.get("dummy").attach_file("late.txt", b"x")
                    attempts.append("written")
                except Exception as exc:  # swallows ComponentTimeout too
                    attempts.append(type(exc).__name__)

        outcome = call_with_timeout(careless, 0.1, "careless")
        self.assertTrue(outcome.timed_out)
        time.sleep(1.2)  # the abandoned thread goes on until its own deadline
        self.assertIn("ComponentTimeout", attempts)  # swallowed: the thread went on
        first_refusal = attempts.index("RunEndedError")
        after = attempts[first_refusal:]
        self.assertGreater(len(after), 2)
        self.assertNotIn("written", after)  # nothing recorded once the call had ended


class TokenFence(SessionTestCase):
    def test_a_lease_taken_again_has_a_new_token_and_the_old_one_is_refused(self):
        lease = collector_lock("fenced", mode="refuse")
        with lease:
            first = lease.token
        with lease:
            self.assertIsNot(lease.token, first)
            with self.assertRaises(RunEndedError):
                lease.check(first)
            lease.check()

    def test_checkpoint_writes_are_fenced_by_the_token_in_the_database(self):
        lease = collector_lock("gather:fenced", mode="refuse")
        with lease:
            with lease.fenced_write():
                advance("fenced", "k", checkpoint=None)
            CollectorLock.objects.filter(key="gather:fenced").update(owner="someone else")
            with self.assertRaisesMessage(LockLostError, "no longer held"), lease.fenced_write():
                advance("fenced", "late")
        with self.assertRaises(RunEndedError), lease.fenced_write():
            advance("fenced", "later")
        self.assertEqual(sorted(load("fenced")), ["k"])

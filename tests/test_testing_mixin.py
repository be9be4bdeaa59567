"""``triggers.testing`` assertions pass on the right state and fail on the wrong one."""

from __future__ import annotations

from django.test import override_settings

from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.testing import TriggerTestMixin


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class MixinAssertions(TriggerTestMixin, SessionTestCase):
    def setUp(self):
        self.manager = TriggerManager.for_session(new_uid())
        self.manager.update_configuration(
            {
                "ok": {"after": ["start"], "run": "tests.support.tasks.add_one"},
                "bad": {"after": ["start"], "run": "tests.support.tasks.boom"},
                "later": {"after": ["start", "more"], "run": "tests.support.tasks.noop"},
            }
        )
        self.manager.fire("start", {"n": 1})

    def test_passing_assertions(self):
        self.assertInstanceFinished("ok#0", {"n": 2})
        self.assertInstanceFailed("bad#0", ValueError)
        self.assertInstanceFailed("bad#0", "ValueError")
        self.assertInstanceUnstarted("later#0")
        self.assertInstanceMissing("ok#1")
        self.assertUnresolvedTasks(["bad", "later"])
        self.assertUnresolvedInstances(["bad#0", "later#0"])

    def test_failing_assertions(self):
        with self.assertRaisesMessage(AssertionError, "expected 'finished' (ValueError: boom)"):
            self.assertInstanceFinished("bad#0")
        with self.assertRaises(AssertionError):
            self.assertInstanceFinished("ok#0", {"n": 3})
        with self.assertRaises(AssertionError):
            self.assertInstanceFailed("bad#0", KeyError)
        with self.assertRaisesMessage(AssertionError, "no task instance named 'x#0'"):
            self.assertInstanceSkipped("x#0")
        with self.assertRaisesMessage(AssertionError, "ok#0 exists"):
            self.assertInstanceMissing("ok#0")
        with self.assertRaises(AssertionError):
            self.assertUnresolvedTasks([])
        with self.assertRaises(AssertionError):
            self.assertInstanceReplayed("bad#0")
        with self.assertRaises(AssertionError):
            self.assertInstanceAbandoned("later#0")

    def test_replay_then_assert(self):
        self.manager.replay_failed_instance("bad#0")
        self.assertInstanceReplayed("bad#0")
        self.assertInstanceFailed("bad#1", ValueError)

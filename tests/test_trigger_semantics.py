"""What a session does when triggers fire: the engine's semantics, step by step."""

from __future__ import annotations

import time

from django.test import override_settings

from tests.support.helpers import RecordingManager, SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.exceptions import InvalidStatusTransition
from triggers.storages.cache import CacheStorageBackend
from triggers.testing import TriggerTestMixin

T = "tests.support.tasks."


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class EngineTestCase(TriggerTestMixin, SessionTestCase):
    manager_class = TriggerManager

    def configure(self, config: dict) -> None:
        self.manager = self.manager_class(CacheStorageBackend(new_uid()))
        self.manager.update_configuration(config)


class SingleAndMultipleTriggers(EngineTestCase):
    def test_single_trigger_runs_task_with_its_kwargs(self):
        self.configure({"t": {"after": ["start"], "run": T + "echo"}})
        self.assertUnresolvedTasks(["t"])
        scheduled = self.manager.fire("start", {"a": 1})
        self.assertEqual(scheduled, ["t#0"])
        self.assertInstanceFinished("t#0", {"seen": {"start": {"a": 1}}, "depth": 0})
        self.assertUnresolvedTasks([])
        self.assertUnresolvedInstances([])

    def test_task_waits_for_all_after_triggers(self):
        self.configure({"t": {"after": ["a", "b"], "run": T + "echo"}})
        self.manager.fire("a", {"x": 1})
        self.assertInstanceUnstarted("t#0")
        self.assertUnresolvedInstances(["t#0"])
        self.assertUnresolvedTasks(["t"])
        self.manager.fire("b", {"y": 2})
        self.assertInstanceFinished("t#0", {"seen": {"a": {"x": 1}, "b": {"y": 2}}, "depth": 0})

    def test_first_value_wins_on_a_pending_instance(self):
        self.configure({"t": {"after": ["a", "b"], "run": T + "echo"}})
        self.manager.fire("a", {"v": "first"})
        self.manager.fire("a", {"v": "second"})
        self.manager.fire("b")
        self.assertInstanceFinished("t#0", {"seen": {"a": {"v": "first"}, "b": {}}, "depth": 0})
        self.assertInstanceMissing("t#1")
        self.assertEqual(self.manager.storage.latest_kwargs["a"], {"v": "second"})

    def test_a_task_without_andEvery_runs_once(self):
        self.configure({"t": {"after": ["a"], "run": T + "noop"}})
        self.manager.fire("a")
        self.manager.fire("a")
        self.assertInstanceFinished("t#0")
        self.assertInstanceMissing("t#1")

    def test_unrelated_trigger_creates_nothing(self):
        self.configure({"t": {"after": ["a"], "run": T + "noop"}})
        self.assertEqual(self.manager.fire("other"), [])
        self.assertInstanceMissing("t#0")
        self.assertEqual(self.manager.storage.latest_kwargs, {"other": {}})

    def test_with_params_merge_under_fired_kwargs(self):
        self.configure(
            {
                "t": {
                    "after": ["start"],
                    "run": T + "echo",
                    "withParams": {"start": {"a": 1, "nested": {"keep": True, "x": 0}}, "p": 9},
                }
            }
        )
        self.manager.fire("start", {"a": 2, "nested": {"x": 5}})
        seen = self.manager.storage["t#0"].result["seen"]
        self.assertEqual(seen, {"start": {"a": 2, "nested": {"keep": True, "x": 5}}, "p": 9})

    def test_class_based_task(self):
        self.configure(
            {"t": {"after": ["start"], "run": T + "Multiply", "withParams": {"factor": 3}}}
        )
        self.manager.fire("start", {"value": 7})
        self.assertInstanceFinished("t#0", {"value": 21})

    def test_extras_are_kept(self):
        self.configure({"t": {"after": ["a"], "run": T + "noop", "queue": "slow", "x": [1]}})
        config = self.manager.storage.tasks["t"]
        self.assertEqual(config.extras, {"queue": "slow", "x": [1]})
        self.assertEqual(config.to_dict()["queue"], "slow")


class Cascades(EngineTestCase):
    def test_result_becomes_the_kwargs_of_the_next_task(self):
        self.configure(
            {
                "one": {"after": ["start"], "run": T + "add_one"},
                "two": {"after": ["one"], "run": T + "add_one"},
                "three": {"after": ["two", "start"], "run": T + "add_one"},
            }
        )
        self.manager.fire("start", {"n": 10})
        self.assertInstanceFinished("one#0", {"n": 11})
        self.assertInstanceFinished("two#0", {"n": 12})
        # three received both two's result and start's kwargs: 12 + 10 + 1
        self.assertInstanceFinished("three#0", {"n": 23})
        self.assertEqual(
            self.manager.storage["three#0"].kwargs, {"two": {"n": 12}, "start": {"n": 10}}
        )
        self.assertEqual(self.manager.storage.latest_kwargs["three"], {"n": 23})

    def test_failed_task_does_not_cascade(self):
        self.configure(
            {
                "one": {"after": ["start"], "run": T + "boom"},
                "two": {"after": ["one"], "run": T + "noop"},
            }
        )
        self.manager.fire("start")
        failed = self.assertInstanceFailed("one#0", ValueError)
        self.assertIn("boom", failed.metadata["exc_message"])
        self.assertIn("Traceback", failed.metadata["traceback"])
        self.assertInstanceMissing("two#0")
        self.assertUnresolvedInstances(["one#0"])
        self.assertUnresolvedTasks(["one", "two"])
        self.assertInstancesWithUnresolvedLogs(["one#0"])

    def test_non_mapping_or_unstorable_results_fail_the_instance(self):
        self.configure(
            {
                "a": {"after": ["start"], "run": T + "not_a_mapping"},
                "b": {"after": ["start"], "run": T + "unstorable"},
            }
        )
        self.manager.fire("start")
        self.assertIn(
            "returned a list", self.assertInstanceFailed("a#0", TypeError).metadata["exc_message"]
        )
        message = self.assertInstanceFailed("b#0", TypeError).metadata["exc_message"]
        self.assertIn("value at when", message)


class AndEvery(EngineTestCase):
    def test_each_firing_creates_an_instance(self):
        self.configure({"t": {"after": ["tick"], "andEvery": "tick", "run": T + "echo"}})
        for i in range(3):
            self.manager.fire("tick", {"i": i})
        for i in range(3):
            self.assertInstanceFinished(f"t#{i}", {"seen": {"tick": {"i": i}}, "depth": 0})

    def test_new_instances_are_seeded_with_latest_kwargs_of_other_triggers(self):
        self.configure({"t": {"after": ["setup", "item"], "andEvery": "item", "run": T + "echo"}})
        self.manager.fire("setup", {"v": 1})
        self.manager.fire("item", {"i": 0})
        self.manager.fire("setup", {"v": 2})
        self.manager.fire("item", {"i": 1})
        self.assertInstanceFinished(
            "t#0", {"seen": {"setup": {"v": 1}, "item": {"i": 0}}, "depth": 0}
        )
        self.assertInstanceFinished(
            "t#1", {"seen": {"setup": {"v": 2}, "item": {"i": 1}}, "depth": 0}
        )

    def test_deferred_seeding_when_the_other_trigger_fires_later(self):
        self.configure({"t": {"after": ["setup", "item"], "andEvery": "item", "run": T + "echo"}})
        self.manager.fire("item", {"i": 0})
        self.manager.fire("item", {"i": 1})
        self.assertInstanceUnstarted("t#0")
        self.assertInstanceUnstarted("t#1")
        self.assertUnresolvedInstances(["t#0", "t#1"])
        self.manager.fire("setup", {"v": 9})
        self.assertInstanceFinished(
            "t#0", {"seen": {"setup": {"v": 9}, "item": {"i": 0}}, "depth": 0}
        )
        self.assertInstanceFinished(
            "t#1", {"seen": {"setup": {"v": 9}, "item": {"i": 1}}, "depth": 0}
        )
        self.manager.fire("item", {"i": 2})
        self.assertInstanceFinished(
            "t#2", {"seen": {"setup": {"v": 9}, "item": {"i": 2}}, "depth": 0}
        )

    def test_andEvery_counts_as_an_after_trigger(self):
        self.configure({"t": {"after": ["setup"], "andEvery": "item", "run": T + "noop"}})
        self.manager.fire("setup")
        self.assertInstanceUnstarted("t#0")
        self.manager.fire("item")
        self.assertInstanceFinished("t#0")


class Unless(EngineTestCase):
    def test_unstarted_instances_abandoned_once_all_unless_triggers_fired(self):
        self.configure(
            {"t": {"after": ["a", "b"], "unless": ["stop", "really"], "run": T + "noop"}}
        )
        self.manager.fire("a")
        self.manager.fire("stop")
        self.assertInstanceUnstarted("t#0")  # one of two unless triggers is not enough
        self.manager.fire("really")
        self.assertInstanceAbandoned("t#0")
        self.manager.fire("b")
        self.assertInstanceAbandoned("t#0")
        self.assertUnresolvedInstances([])
        self.assertUnresolvedTasks([])

    def test_unless_leaves_started_instances_alone(self):
        self.configure(
            {
                "first": {"after": ["a"], "run": T + "noop"},
                "t": {"after": ["a"], "andEvery": "a", "unless": ["stop"], "run": T + "noop"},
            }
        )
        self.manager.fire("a")
        self.manager.fire("stop")
        self.assertInstanceFinished("t#0")
        self.manager.fire("a")
        self.assertInstanceAbandoned("t#1")


class Replay(EngineTestCase):
    def test_replay_clones_with_depth_parent_and_replacement_kwargs(self):
        self.configure({"t": {"after": ["start", "other"], "run": T + "fail_unless_ok"}})
        self.manager.fire("other", {"o": 1})
        self.manager.fire("start", {"ok": False})
        self.assertInstanceFailed("t#0", RuntimeError)
        clone = self.manager.replay_failed_instance("t#0", {"start": {"ok": True}})
        self.assertEqual(clone.name, "t#1")
        self.assertInstanceReplayed("t#0")
        replayed = self.assertInstanceFinished("t#1", {"ok": True})
        self.assertEqual(replayed.depth, 1)
        self.assertEqual(replayed.parent, "t#0")
        # Replacement kwargs replace the instance's kwargs wholesale, as in the framework.
        self.assertEqual(replayed.kwargs, {"start": {"ok": True}})
        self.assertEqual(self.manager.storage["t#0"].metadata["replayed_by"], "t#1")

    def test_replay_without_replacement_reuses_kwargs(self):
        self.configure({"t": {"after": ["start"], "run": T + "fail_unless_ok"}})
        self.manager.fire("start", {"ok": False})
        self.manager.replay_failed_instance(self.manager.storage["t#0"])
        failed = self.assertInstanceFailed("t#1", RuntimeError)
        self.assertEqual(failed.kwargs, {"start": {"ok": False}})
        clone = self.manager.replay_failed_instance("t#1", {"start": {"ok": True}})
        self.assertEqual(self.manager.storage[clone.name].depth, 2)
        self.assertInstanceFinished("t#2")

    def test_replaying_a_non_failed_instance_is_an_error(self):
        self.configure({"t": {"after": ["start"], "run": T + "noop"}})
        self.manager.fire("start")
        with self.assertRaisesMessage(InvalidStatusTransition, "'t#0' cannot go from 'finished'"):
            self.manager.replay_failed_instance("t#0")
        self.assertInstanceFinished("t#0")
        self.assertInstanceMissing("t#1")

    def test_replay_cascades(self):
        self.configure(
            {
                "t": {"after": ["start"], "run": T + "fail_unless_ok"},
                "next": {"after": ["t"], "run": T + "echo"},
            }
        )
        self.manager.fire("start", {})
        self.manager.replay_failed_instance("t#0", {"start": {"ok": True}})
        self.assertInstanceFinished("next#0", {"seen": {"t": {"ok": True}}, "depth": 0})


class Skip(EngineTestCase):
    config = {
        "t": {"after": ["start"], "run": T + "boom"},
        "next": {"after": ["t"], "run": T + "echo"},
    }

    def test_skip_without_cascade(self):
        self.configure(self.config)
        self.manager.fire("start")
        self.manager.skip_failed_instance("t#0")
        self.assertInstanceSkipped("t#0")
        self.assertInstanceMissing("next#0")
        self.assertUnresolvedInstances([])

    def test_skip_with_cascade_fires_the_result(self):
        self.configure(self.config)
        self.manager.fire("start")
        self.manager.skip_failed_instance("t#0", cascade=True, result={"stand_in": 1})
        self.assertInstanceSkipped("t#0")
        self.assertInstanceFinished("next#0", {"seen": {"t": {"stand_in": 1}}, "depth": 0})

    def test_skipping_a_finished_instance_is_an_error(self):
        self.configure({"t": {"after": ["start"], "run": T + "noop"}})
        self.manager.fire("start")
        with self.assertRaises(InvalidStatusTransition):
            self.manager.skip_failed_instance("t#0")

    def test_self_skip(self):
        self.configure(
            {
                "quiet": {"after": ["start"], "run": T + "skip_quietly"},
                "loud": {"after": ["start"], "run": T + "skip_and_cascade"},
                "after_quiet": {"after": ["quiet"], "run": T + "noop"},
                "after_loud": {"after": ["loud"], "run": T + "echo"},
            }
        )
        self.manager.fire("start")
        quiet = self.assertInstanceSkipped("quiet#0")
        self.assertEqual(quiet.metadata["skip_reason"], "nothing to do")
        self.assertInstanceSkipped("loud#0")
        self.assertInstanceMissing("after_quiet#0")
        self.assertInstanceFinished(
            "after_loud#0", {"seen": {"loud": {"from": "skip"}}, "depth": 0}
        )


class SelfRetry(EngineTestCase):
    def test_retry_until_success_with_replacement_kwargs(self):
        self.configure({"t": {"after": ["start"], "run": T + "retry_twice_then_succeed"}})
        self.manager.fire("start", {"attempt": 0})
        self.assertInstanceReplayed("t#0")
        self.assertInstanceReplayed("t#1")
        self.assertInstanceFinished("t#2", {"attempt": 2})
        self.assertEqual(self.manager.storage["t#2"].parent, "t#1")

    def test_retry_stops_at_the_maximum(self):
        self.configure({"t": {"after": ["start"], "run": T + "retry_forever"}})
        self.manager.fire("start")
        self.assertInstanceReplayed("t#0")
        self.assertInstanceReplayed("t#1")
        failed = self.assertInstanceFailed("t#2", "MaxRetriesExceeded")
        self.assertIn("limit 2", failed.metadata["exc_message"])
        self.assertInstanceMissing("t#3")

    def test_class_task_retry_limit(self):
        self.configure({"t": {"after": ["start"], "run": T + "RetryingTask"}})
        self.manager.fire("start")
        self.assertInstanceReplayed("t#0")
        self.assertInstanceFailed("t#1", "MaxRetriesExceeded")

    def test_cooldown_is_honoured(self):
        self.configure({"t": {"after": ["start"], "run": T + "retry_with_cooldown"}})
        before = time.monotonic()
        self.manager.fire("start")
        finished = self.assertInstanceFinished("t#1")
        self.assertGreaterEqual(finished.result["ran_at"] - before, 0.4)
        self.assertIn("not_before", finished.metadata)


class HooksAndLogs(EngineTestCase):
    manager_class = RecordingManager

    def test_hooks_are_called_in_order(self):
        self.configure(
            {
                "one": {"after": ["start"], "run": T + "noop"},
                "two": {"after": ["one"], "run": T + "boom"},
                "three": {"after": ["two"], "run": T + "noop"},
            }
        )
        self.manager.fire("start")
        self.assertEqual(self.manager.calls, [("fire", "start"), ("fire", "one")])
        self.manager.calls.clear()
        self.manager.replay_failed_instance("two#0")
        self.assertEqual(self.manager.calls, [("replay", "two#0")])
        self.manager.calls.clear()
        self.manager.skip_failed_instance("two#1", cascade=True, result={})
        self.assertEqual(
            self.manager.calls, [("fire", "two"), ("skip", "two#1", True), ("fire", "three")]
        )

    def test_task_logs_are_stored_and_can_be_resolved(self):
        self.configure({"t": {"after": ["start"], "run": T + "warn"}})
        self.manager.fire("start")
        instance = self.assertInstanceFinished("t#0")
        self.assertEqual(
            [(log["level_name"], log["message"]) for log in instance.logs],
            [("WARNING", "disk 91% full"), ("INFO", "carrying on")],
        )
        # Warnings are kept but do not count as unresolved: only errors or worse do.
        self.assertInstancesWithUnresolvedLogs([])

    def test_update_instance_status_and_metadata(self):
        self.configure({"t": {"after": ["a", "b"], "run": T + "noop"}})
        self.manager.fire("a")
        self.manager.update_instance_metadata("t#0", {"note": "by hand"})
        self.manager.update_instance_status("t#0", "abandoned")
        instance = self.assertInstanceAbandoned("t#0")
        self.assertEqual(instance.metadata["note"], "by hand")
        with self.assertRaises(InvalidStatusTransition):
            self.manager.update_instance_status("t#0", "running")
        with self.assertRaisesMessage(ValueError, "unknown status 'done'"):
            self.manager.update_instance_status("t#0", "done")


class DuplicateDelivery(EngineTestCase):
    def test_a_second_delivery_does_nothing_and_never_cascades_twice(self):
        from triggers.execution import execute_instance

        self.configure(
            {
                "t": {"after": ["start"], "run": T + "add_one"},
                "next": {"after": ["t"], "andEvery": "t", "run": T + "noop"},
            }
        )
        self.manager.fire("start", {"n": 1})
        self.assertInstanceFinished("next#0")
        self.assertIsNone(execute_instance(self.manager, "t#0"))
        self.assertIsNone(execute_instance(self.manager, "next#0"))
        self.assertInstanceMissing("next#1")
        self.assertIsNone(execute_instance(self.manager, "nope#0"))

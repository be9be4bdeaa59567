"""Every failure ends in a terminal state that names its cause (issue 12), on every storage.

Outcomes that cannot be stored, operators aborting what is stuck, runaway ``andEvery`` loops,
and the cases where firing must match the triggers framework exactly.
"""

from __future__ import annotations

from io import StringIO
from unittest import mock

from django.core.management import call_command
from django.test import override_settings

from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.exceptions import (
    ConfigurationError,
    InvalidStatusTransition,
    TooManyInstancesError,
)
from triggers.execution import execute_instance
from triggers.outcomes import Finished
from triggers.storages import get_storage
from triggers.testing import TriggerTestMixin

T = "tests.support.tasks."


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class FailurePathTests(TriggerTestMixin, SessionTestCase):
    storage = "cache"

    def configure(self, config: dict) -> TriggerManager:
        self.manager = TriggerManager(get_storage(new_uid("fail"), self.storage))
        self.manager.update_configuration(config)
        return self.manager

    def run_one(self, run: str, kwargs: dict | None = None) -> dict:
        """Configure one task ``t`` running ``run``, fire ``go`` and return ``t#0``'s metadata."""
        self.configure({"t": {"after": ["go"], "run": T + run}})
        self.manager.fire("go", kwargs or {})
        return self.manager.storage["t#0"].metadata

    # -- 1. outcomes that cannot be stored fail the instance; nothing stays running ----------
    def test_retry_with_kwargs_that_are_not_json(self):
        failed = self.run_one("retry_with_datetime_kwargs")
        self.assertInstanceFailed("t#0", TypeError)
        self.assertIn("retry(replacement_kwargs=...)", failed["exc_message"])
        self.assertIn("go.since is a datetime", failed["exc_message"])
        self.assertIn("retry_with_datetime_kwargs", failed["traceback"])
        self.assertInstanceMissing("t#1")

    def test_retry_with_a_cooldown_that_is_not_a_finite_positive_number(self):
        for cooldown in ("nan", "inf", "-inf", "-1", "1e300"):
            with self.subTest(cooldown=cooldown):
                failed = self.run_one("retry_with_cooldown_from_kwargs", {"cooldown": cooldown})
                self.assertInstanceFailed("t#0", ValueError)
                self.assertIn("a cooldown is a finite number of seconds", failed["exc_message"])
                self.assertInstanceMissing("t#1")

    def test_retry_with_a_negative_limit(self):
        failed = self.run_one("retry_with_bad_limit")
        self.assertInstanceFailed("t#0", ValueError)
        self.assertIn("max_retries=-1", failed["exc_message"])

    def test_a_result_with_an_int_too_long_for_text(self):
        failed = self.run_one("return_huge_int")
        self.assertInstanceFailed("t#0", TypeError)
        self.assertIn("value at n is an int of more than", failed["exc_message"])

    def test_results_and_messages_with_nul_characters(self):
        failed = self.run_one("return_nul")
        self.assertInstanceFailed("t#0", TypeError)
        self.assertIn("value at text is a string containing a NUL", failed["exc_message"])
        failed = self.run_one("skip_with_nul_result")
        self.assertInstanceFailed("t#0", TypeError)
        self.assertIn("skip result", failed["exc_message"])
        # An exception whose message holds a NUL is kept, with the NUL spelled out.
        failed = self.run_one("fail_with_nul_message")
        self.assertEqual(failed["exc_message"], "bad byte \\x00 here")
        self.assertIn("bad byte \\x00 here", self.manager.storage["t#0"].logs[-1]["message"])

    def test_a_task_removed_while_its_instance_runs(self):
        self.run_one("remove_own_task")
        failed = self.assertInstanceFailed("t#0", "UnknownTaskError").metadata
        self.assertIn("could not be saved", failed["exc_message"])
        self.assertIn("no task named 't'", failed["exc_message"])
        self.assertEqual(failed["unsaved_outcome"], "finished")
        self.assertIn("UnknownTaskError", failed["traceback"])

    def test_any_error_while_saving_an_outcome_fails_the_instance_with_that_error(self):
        self.configure({"t": {"after": ["go"], "run": T + "noop"}})
        original = TriggerManager._fire_in

        def broken_cascade(manager, state, trigger, kwargs, effects, strict=False):
            if trigger == "t":
                raise OSError("disk on fire")
            return original(manager, state, trigger, kwargs, effects, strict)

        with mock.patch.object(TriggerManager, "_fire_in", broken_cascade):
            self.manager.fire("go")
        failed = self.assertInstanceFailed("t#0", OSError).metadata
        self.assertEqual(
            failed["exc_message"], "the task's outcome (finished) could not be saved: disk on fire"
        )
        self.assertIn("disk on fire", failed["traceback"])
        self.assertEqual(self.manager.storage.get_unresolved_instances()[0].name, "t#0")

    # -- 2. operators abort what is stuck ------------------------------------------------------
    def stuck(self, status: str) -> str:
        self.configure({"t": {"after": ["go"], "run": T + "echo"}})
        inst = self.manager.storage.create_instance("t", kwargs={"go": {"x": 1}})
        self.manager.update_instance_status(inst.name, "scheduled")
        if status == "running":
            self.manager.update_instance_status(inst.name, "running")
        return inst.name

    def test_abort_a_scheduled_instance_then_replay_it(self):
        name = self.stuck("scheduled")
        aborted = self.manager.abort_instance(name, reason="its job was lost")
        self.assertEqual(aborted.status, "failed")
        failed = self.assertInstanceFailed(name, "Aborted").metadata
        self.assertEqual(failed["exc_message"], "aborted by an operator: its job was lost")
        self.assertEqual(failed["abort_reason"], "its job was lost")
        self.assertIsNone(execute_instance(self.manager, name))  # the late job does nothing
        self.assertInstanceFailed(name, "Aborted")
        self.manager.replay_failed_instance(name)
        self.assertInstanceFinished("t#1", {"seen": {"go": {"x": 1}}, "depth": 1})

    def test_abort_a_running_instance_ignores_its_late_outcome(self):
        name = self.stuck("running")
        self.manager.abort_instance(name)
        self.assertIsNone(self.manager.complete_instance(name, Finished({"late": True})))
        failed = self.assertInstanceFailed(name, "Aborted")
        self.assertNotIn("result", failed.metadata)
        self.manager.skip_failed_instance(name)
        self.assertInstanceSkipped(name)

    def test_only_scheduled_or_running_instances_can_be_aborted(self):
        self.configure({"t": {"after": ["go"], "run": T + "noop"}})
        self.manager.fire("go")
        with self.assertRaisesMessage(InvalidStatusTransition, "from 'finished' to 'aborted'"):
            self.manager.abort_instance("t#0")

    def test_triggers_abort_command(self):
        name = self.stuck("running")
        out = StringIO()
        call_command(
            "triggers_abort", self.manager.session_uid, name, "--reason", "hung", stdout=out
        )
        self.assertIn(f"{name} aborted (now failed)", out.getvalue())
        self.assertEqual(self.manager.storage[name].metadata["abort_reason"], "hung")

    # -- 5. runaway loops are bounded ----------------------------------------------------------
    def test_a_self_feeding_loop_stops_at_the_instance_limit(self):
        loop = {"ping": {"after": ["start"], "andEvery": "ping", "run": T + "noop"}}
        with override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync", "MAX_INSTANCES_PER_TASK": 5}):
            self.configure(loop)
            self.manager.fire("start")
            self.manager.fire("ping")
            for n in range(5):
                self.assertInstanceFinished(f"ping#{n}")
            self.assertInstanceMissing("ping#5")
            errors = self.manager.storage.metadata["errors"]
            self.assertEqual(len(errors), 1)
            self.assertIn("would create instance #5 of task 'ping'", errors[0]["message"])
            self.assertIn("MAX_INSTANCES_PER_TASK", errors[0]["message"])
            latest_before = self.manager.storage.latest_kwargs
            with self.assertRaisesMessage(TooManyInstancesError, "instance #5 of task 'ping'"):
                self.manager.fire("ping", {"again": True})
            self.assertEqual(self.manager.storage.latest_kwargs, latest_before)  # unchanged
            self.assertEqual(len(self.manager.storage.metadata["errors"]), 1)
            out = StringIO()
            call_command("triggers_status", self.manager.session_uid, stdout=out)
            self.assertIn("session error at", out.getvalue())

    def test_triggers_config_names_self_feeding_cycles(self):
        import json
        import tempfile
        from pathlib import Path

        config = {
            "ping": {"after": ["start"], "andEvery": "ping", "run": T + "noop"},
            "a": {"after": [], "andEvery": "b", "run": T + "noop"},
            "b": {"after": ["a"], "run": T + "noop"},
            "calm": {"after": ["tick"], "andEvery": "tick", "run": T + "noop"},
        }
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "loops.json"
            path.write_text(json.dumps(config))
            out, err = StringIO(), StringIO()
            call_command("triggers_config", new_uid("loops"), str(path), stdout=out, stderr=err)
        self.assertIn("task 'a' feeds its own andEvery trigger (a -> b -> a)", err.getvalue())
        self.assertIn("task 'ping' feeds its own andEvery trigger (ping -> ping)", err.getvalue())
        self.assertNotIn("calm", err.getvalue())

    # -- 6. firing matches the triggers framework ----------------------------------------------
    def test_empty_after_with_and_every_is_valid(self):
        self.configure({"t": {"after": [], "andEvery": "tick", "run": T + "echo"}})
        self.manager.fire("tick", {"i": 0})
        self.manager.fire("tick", {"i": 1})
        self.assertInstanceFinished("t#1", {"seen": {"tick": {"i": 1}}, "depth": 0})
        with self.assertRaisesMessage(ConfigurationError, "needs an 'andEvery'"):
            self.manager.update_configuration({"u": {"after": [], "run": T + "noop"}})

    def test_an_unless_trigger_creates_an_abandoned_instance_when_its_set_is_complete(self):
        self.configure({"t": {"after": ["a"], "unless": ["u"], "run": T + "noop"}})
        self.manager.fire("u", {"why": "cancelled"})
        abandoned = self.assertInstanceAbandoned("t#0")
        self.assertEqual(abandoned.abandon_state, {"u"})
        self.manager.fire("a")
        self.assertInstanceMissing("t#1")

    def test_an_unless_trigger_creates_an_unstarted_instance_carrying_the_abandon_state(self):
        self.configure({"t": {"after": ["a"], "unless": ["u", "v"], "run": T + "noop"}})
        self.manager.fire("u", {"n": 1})
        pending = self.assertInstanceUnstarted("t#0")
        self.assertEqual(pending.abandon_state, {"u"})
        self.manager.fire("v")
        self.assertInstanceAbandoned("t#0")

    def test_an_unless_cascade_creates_the_instance_too(self):
        self.configure(
            {
                "first": {"after": ["start"], "run": T + "noop"},
                "t": {"after": ["a"], "unless": ["first"], "run": T + "noop"},
            }
        )
        self.manager.fire("start")
        self.assertInstanceAbandoned("t#0")

    def test_an_and_every_task_without_instances_gets_one_from_an_unless_firing(self):
        self.configure(
            {"t": {"after": [], "andEvery": "a", "unless": ["u", "v"], "run": T + "noop"}}
        )
        self.manager.fire("u")
        self.assertEqual(self.assertInstanceUnstarted("t#0").abandon_state, {"u"})
        self.manager.fire("u")  # already seen by t#0: nothing new
        self.assertInstanceMissing("t#1")
        self.manager.fire("a")  # t#0 takes it and runs
        self.assertInstanceFinished("t#0")
        self.manager.fire("v")  # the task has instances: an unless trigger creates none
        self.assertInstanceMissing("t#1")
        self.manager.fire("a")  # a new instance, whose unless set is complete
        self.assertInstanceAbandoned("t#1")

    def test_update_configuration_merges_unless_asked_to_replace(self):
        self.configure({"one": {"after": ["a"], "run": T + "noop"}})
        self.manager.update_configuration({"two": {"after": ["b"], "run": T + "noop"}})
        self.assertEqual(sorted(self.manager.storage.tasks), ["one", "two"])
        self.manager.update_configuration({"two": {"after": ["c"], "run": T + "noop"}})
        self.assertEqual(self.manager.storage.tasks["two"].after, ["c"])
        self.manager.update_configuration(
            {"three": {"after": ["d"], "run": T + "noop"}}, replace=True
        )
        self.assertEqual(sorted(self.manager.storage.tasks), ["three"])

    def test_replay_with_empty_kwargs_runs_the_clone_with_none(self):
        self.configure({"t": {"after": ["start"], "run": T + "fail_unless_ok"}})
        self.manager.fire("start", {"ok": False})
        clone = self.manager.replay_failed_instance("t#0", {})
        self.assertEqual(self.manager.storage[clone.name].kwargs, {})
        self.assertInstanceFailed(clone.name, RuntimeError)
        # Replacement kwargs replace wholesale and may name any trigger.
        again = self.manager.replay_failed_instance(clone.name, {"start": {"ok": True}, "x": {}})
        self.assertEqual(self.manager.storage[again.name].kwargs, {"start": {"ok": True}, "x": {}})
        self.assertInstanceFinished(again.name)

    def test_storage_clone_instance_is_an_unstarted_child(self):
        self.configure({"t": {"after": ["start"], "run": T + "boom"}})
        self.manager.fire("start", {"a": 1})
        clone = self.manager.storage.clone_instance("t#0")
        stored = self.assertInstanceUnstarted(clone.name)
        self.assertEqual(
            (stored.depth, stored.parent, stored.kwargs), (1, "t#0", {"start": {"a": 1}})
        )
        self.assertNotIn("exc_type", stored.metadata)

    def test_unresolved_logs_are_errors_on_instances_that_still_matter(self):
        self.configure(
            {
                "w": {"after": ["go"], "run": T + "warn"},
                "e": {"after": ["go"], "run": T + "log_error"},
                "f": {"after": ["go"], "run": T + "boom"},
                "r": {"after": ["go"], "run": T + "boom"},
            }
        )
        self.manager.fire("go")
        self.manager.replay_failed_instance("r#0")  # replayed: dealt with
        self.assertInstancesWithUnresolvedLogs(["e#0", "f#0", "r#1"])
        self.manager.skip_failed_instance("f#0")
        self.manager.mark_instance_logs_resolved("e#0")
        self.assertInstancesWithUnresolvedLogs(["r#1"])

    def test_update_instance_metadata_keeps_created_and_stamps_last_modified(self):
        self.configure({"t": {"after": ["a", "b"], "run": T + "noop"}})
        self.manager.fire("a")
        stamps = self.manager.storage["t#0"].metadata["timestamps"]
        created, modified = stamps["created"], stamps["lastModified"]
        self.manager.update_instance_metadata(
            "t#0",
            {
                "note": "x",
                "created": "1999-01-01",
                "timestamps": {"created": "1999-01-01", "lastModified": "1999-01-01"},
            },
        )
        instance = self.manager.storage["t#0"]
        self.assertEqual(instance.metadata["note"], "x")
        self.assertNotIn("created", instance.metadata)
        self.assertEqual(instance.created, created)
        self.assertGreaterEqual(instance.last_modified, modified)
        self.assertNotEqual(instance.last_modified, "1999-01-01")


class DatabaseFailurePathTests(FailurePathTests):
    storage = "db"

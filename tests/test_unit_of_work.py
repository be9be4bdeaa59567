"""The manager's units of work, and status changes as ``TaskInstance`` methods."""

from __future__ import annotations

import contextlib
import uuid

from django.test import SimpleTestCase, override_settings

from tests.support.backends import DictStorage
from triggers import TriggerManager
from triggers.exceptions import InvalidStatusTransition, StaleWriteError
from triggers.types import TaskInstance
from triggers.unit_of_work import Effects, UnitOfWork


class StaleOnce(DictStorage):
    """Refuses the first write of every unit of work as stale, as a fenced backend would."""

    name = "stale-once"

    def __init__(self, uid: str) -> None:
        super().__init__(uid)
        self.refused = 0

    @contextlib.contextmanager
    def transaction(self):
        with super().transaction() as state:
            yield state
            if not self.refused:
                self.refused += 1
                raise StaleWriteError(f"session {self.uid}: lock lost")


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class UnitOfWorkTests(SimpleTestCase):
    def test_the_manager_is_one_class_owning_its_unit_of_work(self):
        manager = TriggerManager(DictStorage(f"uow-{uuid.uuid4().hex}"))
        self.assertEqual(TriggerManager.__mro__, (TriggerManager, object))
        self.assertIsInstance(manager.unit_of_work, UnitOfWork)
        self.assertIs(manager.unit_of_work.manager, manager)

    def test_a_stale_write_is_retried_from_fresh_state(self):
        storage = StaleOnce(f"uow-{uuid.uuid4().hex}")
        manager = TriggerManager(storage)
        calls = []

        def operation(state):
            calls.append(dict(state.configs))
            state.metadata["seen"] = len(calls)
            state.touch_metadata()
            return len(calls)

        self.assertEqual(manager.unit_of_work.transact(operation), 2)
        self.assertEqual(storage.refused, 1)
        self.assertEqual(storage.metadata["seen"], 2)

    def test_effects_run_after_the_commit_in_order(self):
        order = []

        class Recording(TriggerManager):
            def _post_fire(self, trigger_name, tasks_scheduled):
                order.append(("post_fire", trigger_name))

        manager = Recording(DictStorage(f"uow-{uuid.uuid4().hex}"))
        effects = Effects.empty()
        effects.fired.append(("go", []))
        manager.unit_of_work.after_commit(effects, before_dispatch=lambda: order.append("hook"))
        self.assertEqual(order, [("post_fire", "go"), "hook"])


class StatusMethodsTests(SimpleTestCase):
    def test_set_status_stamps_the_time_and_refuses_what_is_not_allowed(self):
        inst = TaskInstance(name="t#0", task_name="t")
        inst.set_status("scheduled")
        self.assertEqual(inst.status, "scheduled")
        self.assertIn("scheduled", inst.metadata["timestamps"])
        self.assertIn("created", inst.metadata["timestamps"])
        with self.assertRaisesRegex(InvalidStatusTransition, "t#0"):
            inst.set_status("finished")
        self.assertEqual(inst.status, "scheduled")

    def test_fail_keeps_both_spellings_and_record_logs_reopens_logs(self):
        inst = TaskInstance(name="t#0", task_name="t", status="running")
        inst.fail("OSError", "disk on fire", "Traceback...", "builtins.OSError")
        self.assertEqual(inst.status, "failed")
        self.assertEqual(inst.metadata["exc_type"], "OSError")
        self.assertEqual(inst.metadata["exceptionType"], "builtins.OSError")
        self.assertEqual(inst.metadata["exceptionInfo"], "Traceback...")
        inst.metadata["logs_resolved"] = True
        inst.record_logs([{"level": 40, "message": "boom"}])
        self.assertFalse(inst.metadata["logs_resolved"])
        self.assertEqual(inst.metadata["log_level"], 40)

    def test_require_status_names_the_instance_and_the_action(self):
        inst = TaskInstance(name="t#3", task_name="t", status="finished")
        with self.assertRaisesRegex(InvalidStatusTransition, "t#3"):
            inst.require_status("failed", "replayed")

    def test_old_module_names_still_import(self):
        from triggers.lifecycle import Effects as OldEffects
        from triggers.lifecycle import InstanceLifecycle
        from triggers.runners.base import Dispatch
        from triggers.transitions import error_record, now, record_logs, set_status, touch

        self.assertIs(OldEffects, Effects)
        self.assertIs(InstanceLifecycle, TriggerManager)
        self.assertEqual(Dispatch.__module__, "triggers.unit_of_work")
        inst = TaskInstance(name="t#0", task_name="t")
        set_status(inst, "scheduled")
        record_logs(inst, [error_record("x")])
        metadata: dict = {}
        touch(metadata, "failed")
        self.assertEqual(set(metadata["timestamps"]), {"created", "lastModified", "failed"})
        self.assertTrue(now())

"""Assertions for tests of trigger tasks: mix ``TriggerTestMixin`` into a ``TestCase``.

The mixin reads the manager from ``self.manager`` (override ``get_trigger_manager`` to change
that). Pair it with the ``sync`` runner so tasks run inline::

    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
    class ImportTests(TriggerTestMixin, TestCase):
        def setUp(self):
            self.manager = TriggerManager.for_session("test-import")
            self.manager.update_configuration({...})

        def test_import(self):
            self.manager.fire("start", {"path": "data.csv"})
            self.assertInstanceFinished("t_import#0", {"rows": 3})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .manager import TriggerManager
from .types import (
    STATUS_ABANDONED,
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_REPLAYED,
    STATUS_SKIPPED,
    STATUS_UNSTARTED,
    TaskInstance,
)

_UNSET: Any = object()


class TriggerTestMixin:
    """``unittest`` assertions about the instances of a trigger session."""

    def get_trigger_manager(self) -> TriggerManager:
        manager = getattr(self, "manager", None)
        if manager is None:
            raise AttributeError(
                "TriggerTestMixin needs self.manager (a TriggerManager) or an override of "
                "get_trigger_manager()"
            )
        return manager

    def _instance(self, name: str) -> TaskInstance:
        storage = self.get_trigger_manager().storage
        if name not in storage:
            known = ", ".join(sorted(inst.name for inst in storage)) or "none"
            self.fail(f"no task instance named {name!r} (instances: {known})")
        return storage[name]

    def assertInstanceStatus(self, name: str, status: str) -> TaskInstance:
        instance = self._instance(name)
        if instance.status != status:
            detail = ""
            if instance.metadata.get("exc_type"):
                detail = (
                    f" ({instance.metadata['exc_type']}: {instance.metadata.get('exc_message')})"
                )
            self.fail(f"{name} is {instance.status!r}, expected {status!r}{detail}")
        return instance

    def assertInstanceFinished(self, name: str, expected_result: Any = _UNSET) -> TaskInstance:
        instance = self.assertInstanceStatus(name, STATUS_FINISHED)
        if expected_result is not _UNSET and expected_result is not None:
            self.assertEqual(instance.result, expected_result, f"result of {name}")
        return instance

    def assertInstanceFailed(self, name: str, exc_type: type | str | None = None) -> TaskInstance:
        instance = self.assertInstanceStatus(name, STATUS_FAILED)
        if exc_type is not None:
            expected = exc_type if isinstance(exc_type, str) else exc_type.__name__
            self.assertEqual(instance.metadata.get("exc_type"), expected, f"exception of {name}")
        return instance

    def assertInstanceSkipped(self, name: str) -> TaskInstance:
        return self.assertInstanceStatus(name, STATUS_SKIPPED)

    def assertInstanceReplayed(self, name: str) -> TaskInstance:
        return self.assertInstanceStatus(name, STATUS_REPLAYED)

    def assertInstanceAbandoned(self, name: str) -> TaskInstance:
        return self.assertInstanceStatus(name, STATUS_ABANDONED)

    def assertInstanceUnstarted(self, name: str) -> TaskInstance:
        return self.assertInstanceStatus(name, STATUS_UNSTARTED)

    def assertInstanceMissing(self, name: str) -> None:
        storage = self.get_trigger_manager().storage
        if name in storage:
            self.fail(f"{name} exists ({storage[name].status}); expected no such instance")

    def assertUnresolvedTasks(self, names: Iterable[str]) -> None:
        storage = self.get_trigger_manager().storage
        actual = sorted(task.name for task in storage.get_unresolved_tasks())
        self.assertEqual(actual, sorted(names), "unresolved tasks")

    def assertUnresolvedInstances(self, names: Iterable[str]) -> None:
        storage = self.get_trigger_manager().storage
        actual = sorted(inst.name for inst in storage.get_unresolved_instances())
        self.assertEqual(actual, sorted(names), "unresolved instances")

    def assertInstancesWithUnresolvedLogs(self, names: Iterable[str]) -> None:
        storage = self.get_trigger_manager().storage
        actual = sorted(inst.name for inst in storage.get_instances_with_unresolved_logs())
        self.assertEqual(actual, sorted(names), "instances with unresolved logs")

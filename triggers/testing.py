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

import unittest
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .manager import TriggerManager
from .task import TaskContext, TriggerTask
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


if TYPE_CHECKING:  # the mixin's assertions call TestCase's (fail, assertEqual)
    _TestCaseBase = unittest.TestCase
else:
    _TestCaseBase = object


class TriggerTestMixin(_TestCaseBase):
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


# -- the triggers framework's testing toolbox ------------------------------------------------
# Kept so that tests written for the framework run by changing imports (docs/migrating.md).
# Tasks run inline on the ``sync`` runner; each test gets a private, empty cache for the
# ``cache`` storage, as the framework's in-process test runs had.


def name_matches_classpath(cls: type) -> type:
    """Set ``cls.name`` to its dotted path (``TriggerTask`` subclasses have it already)."""
    cls.name = f"{cls.__module__}.{cls.__qualname__}"  # type: ignore[attr-defined]
    return cls


class PassThruTask(TriggerTask):
    """Returns ``{"kwargs": <its trigger kwargs>}``, so a test sees what it was given."""

    def _run(self, context: TaskContext) -> dict[str, Any]:
        return {"kwargs": context.trigger_kwargs}


class DevNullTask(TriggerTask):
    """Returns an empty result."""

    def _run(self, context: TaskContext) -> dict[str, Any]:
        return {}


class FailingTask(TriggerTask):
    """Always raises ``RuntimeError``."""

    def _run(self, context: TaskContext) -> dict[str, Any]:
        raise RuntimeError("You weren't supposed to see that.")


class SelfSkippingTask(TriggerTask):
    """Skips itself, keeping its trigger kwargs in ``metadata["kwargs"]``."""

    def _run(self, context: TaskContext) -> dict[str, Any]:
        raise self.skip({"kwargs": context.trigger_kwargs})


class SelfRetryingTask(TriggerTask):
    """Retries itself until it has been retried ``retries.max`` times (a ``withParams`` value,
    default ``max_retries``), then returns ``{"count": <retries so far>}``."""

    def _run(self, context: TaskContext) -> dict[str, Any]:
        limit = (context.trigger_kwargs.get("retries") or {}).get("max", self.max_retries)
        if self.request.retries < int(limit):
            raise self.retry()
        return {"count": self.request.retries}


class ThreadingTaskRunner:
    """The framework's in-process test runner. Here tasks already ran inline (the ``sync``
    runner) by the time ``fire`` returns, so ``join_all()`` has nothing to wait for."""

    @classmethod
    def join_all(cls, timeout: float | None = None) -> None:
        return None


class TriggerManagerTestCaseMixin(TriggerTestMixin):
    """The framework's mixin: ``self.manager`` plus ``assertInstance*`` / ``assertUnresolved*``.

    Each test runs with the ``sync`` runner and a private in-memory cache behind the ``cache``
    storage, so sessions named after the test (``CacheStorageBackend(self._testMethodName)``)
    start empty every time. A test case without database access (``unittest.TestCase``)
    leaves the session table alone.
    """

    def run(self, result: Any = None) -> Any:
        import uuid
        from contextlib import ExitStack
        from unittest import mock

        from django.conf import settings
        from django.test import TransactionTestCase, override_settings

        alias = "triggers-testing"
        caches = dict(getattr(settings, "CACHES", {}))
        caches[alias] = {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"triggers-testing-{uuid.uuid4().hex}",
        }
        triggers = dict(getattr(settings, "TRIGGERS", {}) or {})
        triggers.update(DEFAULT_RUNNER="sync", CACHE_ALIAS=alias, SINGLE_PROCESS=True)
        with ExitStack() as stack:
            stack.enter_context(override_settings(CACHES=caches, TRIGGERS=triggers))
            if not isinstance(self, TransactionTestCase):
                stack.enter_context(mock.patch("triggers.session_index.register_session"))
                stack.enter_context(mock.patch("triggers.session_index.apply_status_deltas"))
                stack.enter_context(mock.patch("triggers.session_index.index_search_text"))
            return super().run(result)

    def assertInstanceFailed(self, name: str, exc_type: type | str | None = None) -> TaskInstance:
        """Failed, with ``exc_type`` (a class: compared by dotted path, as the framework did)."""
        if not isinstance(exc_type, type):
            return super().assertInstanceFailed(name, exc_type)
        instance = self.assertInstanceStatus(name, STATUS_FAILED)
        stored = instance.metadata.get(TaskInstance.META_EXCEPTION_TYPE)
        if stored is None:  # written before the framework's key was kept
            return super().assertInstanceFailed(name, exc_type)
        expected = f"{exc_type.__module__}.{exc_type.__qualname__}"
        self.assertEqual(stored, expected, f"exception of {name}")
        return instance

"""Tests written the way the triggers framework's users write them: ``unittest.TestCase`` with
its ``TriggerManagerTestCaseMixin``, its task classes, registries and keyword names. Only the
imports differ from the framework's (docs/migrating.md lists them)."""

from __future__ import annotations

import logging
from unittest import TestCase

from triggers.manager import TriggerManager, trigger_managers
from triggers.storages import storage_backends
from triggers.storages.cache import CacheStorageBackend
from triggers.task import MaxRetriesExceeded
from triggers.testing import (
    DevNullTask,
    FailingTask,
    PassThruTask,
    SelfRetryingTask,
    SelfSkippingTask,
    ThreadingTaskRunner,
    TriggerManagerTestCaseMixin,
)
from triggers.types import TaskConfig, TaskInstance


class HookRecordingManager(TriggerManager):
    def __init__(self, storage):
        super().__init__(storage)
        self.calls = []

    def _post_fire(self, trigger_name, tasks_scheduled):
        self.calls.append(("fire", trigger_name, [t.name for t in tasks_scheduled]))

    def _post_replay(self, task_instance):
        self.calls.append(("replay", task_instance.name))

    def _post_skip(self, task_instance, cascade):
        self.calls.append(("skip", task_instance.name, cascade))


class ManagerTestCase(TriggerManagerTestCaseMixin, TestCase):
    def setUp(self):
        super().setUp()
        self.manager = TriggerManager(CacheStorageBackend(self._testMethodName))

    def test_each_test_starts_with_an_empty_session(self):
        # The same uid as in other test cases: the mixin gives every test a private cache.
        self.manager = TriggerManager(CacheStorageBackend("test_fire"))
        self.assertEqual(list(self.manager.storage.iter_instances()), [])

    def test_fire(self):
        self.manager.update_configuration(
            configuration={
                "t_importSubject": {
                    "after": ["firstPageReceived", "questionnaireComplete"],
                    "run": PassThruTask.name,
                },
            }
        )
        self.manager.fire("firstPageReceived", {"responses": {"age": 42}})
        ThreadingTaskRunner.join_all()
        self.assertInstanceUnstarted("t_importSubject#0")
        self.assertUnresolvedTasks(["t_importSubject"])
        self.manager.fire("questionnaireComplete")
        ThreadingTaskRunner.join_all()
        self.assertInstanceFinished(
            "t_importSubject#0",
            {
                "kwargs": {
                    "firstPageReceived": {"responses": {"age": 42}},
                    "questionnaireComplete": {},
                }
            },
        )
        self.assertUnresolvedTasks([])
        self.assertUnresolvedInstances([])

    def test_failing_task_and_exception_type(self):
        self.manager.update_configuration({"t_fail": {"after": ["go"], "run": FailingTask.name}})
        self.manager.fire("go")
        self.assertInstanceFailed("t_fail#0", RuntimeError)
        metadata = self.manager.storage["t_fail#0"].metadata
        self.assertEqual(metadata[TaskInstance.META_EXCEPTION_TYPE], "builtins.RuntimeError")
        self.assertIn(
            "You weren't supposed to see that.", metadata[TaskInstance.META_EXCEPTION_INFO]
        )
        self.assertUnresolvedInstances(["t_fail#0"])

    def test_replay_and_skip_with_framework_keywords(self):
        self.manager.update_configuration(
            {
                "t_fail": {"after": ["go"], "run": FailingTask.name},
                "t_next": {"after": ["t_fail"], "run": PassThruTask.name},
            }
        )
        self.manager.fire("go", {"n": 1})
        self.manager.replay_failed_instance(failed_instance="t_fail#0", replacement_kwargs={})
        self.assertInstanceReplayed("t_fail#0")
        self.assertEqual(self.manager.storage["t_fail#1"].kwargs, {})  # {} replaces everything
        self.assertInstanceFailed("t_fail#1", RuntimeError)
        self.manager.skip_failed_instance(failed_instance="t_fail#1", cascade=True, result={"x": 1})
        self.assertInstanceSkipped("t_fail#1")
        self.assertInstanceFinished("t_next#0", {"kwargs": {"t_fail": {"x": 1}}})

    def test_update_instance_status_metadata_and_logs_with_framework_keywords(self):
        self.manager.update_configuration(
            {
                "t_manual": {"after": ["a", "b"], "run": DevNullTask.name},
                "t_after": {"after": ["t_manual"], "run": PassThruTask.name},
            }
        )
        self.manager.fire("a")
        self.manager.update_instance_status(task_instance="t_manual#0", status="scheduled")
        self.manager.update_instance_status(task_instance="t_manual#0", status="running")
        self.manager.update_instance_status(
            task_instance="t_manual#0",
            status="finished",
            metadata={"by": "hand"},
            cascade=True,
            cascade_kwargs={"done": True},
        )
        self.assertInstanceStatus("t_manual#0", "finished")
        self.assertInstanceFinished("t_after#0", {"kwargs": {"t_manual": {"done": True}}})
        self.manager.update_instance_metadata(task_instance="t_manual#0", metadata={"note": "ok"})
        instance = self.manager.storage["t_manual#0"]
        self.assertEqual((instance.metadata["by"], instance.metadata["note"]), ("hand", "ok"))
        self.assertIsNotNone(instance.last_modified)
        self.manager.mark_instance_logs_resolved(task_instance="t_manual#0")
        self.assertTrue(self.manager.storage["t_manual#0"].metadata["logs_resolved"])

    def test_unless_and_abandon_state(self):
        self.manager.update_configuration(
            {"t": {"after": ["a"], "unless": ["cancel", "stop"], "run": DevNullTask.name}}
        )
        self.manager.fire("cancel")
        instance = self.manager.storage["t#0"]
        self.assertEqual(instance.abandon_state, {"cancel"})
        self.assertFalse(instance.can_abandon)
        self.assertFalse(instance.can_run)
        self.manager.fire("stop")
        self.assertInstanceAbandoned("t#0")

    def test_and_every(self):
        self.manager.update_configuration(
            {"t": {"after": ["setup"], "andEvery": "page", "run": PassThruTask.name}}
        )
        self.manager.fire("setup", {"v": 1})
        for page in range(3):
            self.manager.fire("page", {"n": page})
        for page in range(3):
            self.assertInstanceFinished(
                f"t#{page}", {"kwargs": {"setup": {"v": 1}, "page": {"n": page}}}
            )
        self.assertInstanceMissing("t#3")


class HooksTestCase(TriggerManagerTestCaseMixin, TestCase):
    def setUp(self):
        super().setUp()
        self.manager = trigger_managers.get(
            "tests.test_framework_compat.HookRecordingManager",
            storage=storage_backends.get("cache", uid=self._testMethodName),
        )

    def test_registries(self):
        self.assertIsInstance(self.manager, HookRecordingManager)
        self.assertIs(storage_backends["cache"], CacheStorageBackend)
        self.assertIn("cache", storage_backends)
        default = trigger_managers.get("default", storage=self.manager.storage)
        self.assertIs(type(default), TriggerManager)
        self.assertEqual(type(default).triggers__registry_key, "default")
        self.assertIn("default", trigger_managers)  # the triggers.managers entry point

    def test_hooks_receive_what_the_framework_passed(self):
        self.manager.update_configuration(
            {
                "t_one": {"after": ["start"], "run": DevNullTask.name},
                "t_two": {"after": ["t_one"], "run": FailingTask.name},
            }
        )
        self.manager.fire("start")
        self.assertEqual(
            self.manager.calls, [("fire", "start", ["t_one#0"]), ("fire", "t_one", ["t_two#0"])]
        )
        self.manager.calls.clear()
        self.manager.replay_failed_instance("t_two#0")
        self.manager.skip_failed_instance("t_two#1", cascade=False)
        self.assertEqual(self.manager.calls, [("replay", "t_two#0"), ("skip", "t_two#1", False)])


class TaskTestCase(TriggerManagerTestCaseMixin, TestCase):
    def setUp(self):
        super().setUp()
        self.manager = TriggerManager(CacheStorageBackend(self._testMethodName))

    def test_skip_self_with_metadata(self):
        self.manager.update_configuration(
            {"t_skipper": {"after": ["integrity"], "run": SelfSkippingTask.name}}
        )
        self.manager.fire("integrity", {"foo": "bar"})
        self.assertInstanceSkipped("t_skipper#0")
        instance = self.manager.storage.instances["t_skipper#0"]
        self.assertEqual(instance.metadata["kwargs"], {"integrity": {"foo": "bar"}})

    def test_retry_self(self):
        self.manager.update_configuration(
            {
                "t_replay": {
                    "after": ["start"],
                    "run": SelfRetryingTask.name,
                    "withParams": {"retries": {"max": 2}},
                }
            }
        )
        self.manager.fire("start")
        self.assertInstanceReplayed("t_replay#0")
        self.assertInstanceReplayed("t_replay#1")
        self.assertInstanceFinished("t_replay#2", {"count": 2})

    def test_retry_self_too_many_times(self):
        self.manager.update_configuration(
            {
                "t_replay": {
                    "after": ["start"],
                    "run": SelfRetryingTask.name,
                    "withParams": {"retries": {"max": 5}},
                }
            }
        )
        self.manager.fire("start")
        for n in range(3):
            self.assertInstanceReplayed(f"t_replay#{n}")
        self.assertInstanceFailed("t_replay#3", MaxRetriesExceeded)

    def test_retry_with_metadata_cooldown_and_replacement_kwargs(self):
        self.manager.update_configuration(
            {
                "t": {
                    "after": ["start", "other"],
                    "run": "tests.support.framework_tasks.RetryWithEverything",
                }
            }
        )
        self.manager.fire("other")
        self.manager.fire("start", {"attempt": 1})
        replayed = self.manager.storage["t#0"]
        self.assertEqual(replayed.status, "replayed")
        self.assertEqual(replayed.metadata["why"], "upstream busy")
        self.assertEqual(replayed.metadata[TaskInstance.META_COOLDOWN], 0.05)
        self.assertInstanceFinished("t#1", {"kwargs": {"start": {"attempt": 2}}})

    def test_task_context_helpers_and_celery_era_run_names(self):
        self.manager.update_configuration(
            {
                "t_import": {
                    "after": ["firstPageReceived"],
                    "run": "tests.support.framework_tasks.ImportSubject",
                }
            }
        )
        self.manager.fire("firstPageReceived", {"count": "3"})
        self.assertInstanceFinished(
            "t_import#0",
            {
                "count": 3,
                "uid": self._testMethodName,
                "instance": "t_import#0",
                "status": "running",
                "retries": 0,
            },
        )
        self.assertEqual(
            self.manager.storage["t_import#0"].logs[0]["message"], "importing 3 responses"
        )

    def test_filter_errors_and_logger_context(self):
        self.manager.update_configuration(
            {
                "t_import": {
                    "after": ["firstPageReceived"],
                    "run": "tests.support.framework_tasks.ImportSubject",
                },
                "t_log": {
                    "after": ["firstPageReceived"],
                    "run": "tests.support.framework_tasks.LogsAnError",
                },
                "t_boom": {
                    "after": ["firstPageReceived"],
                    "run": "tests.support.framework_tasks.FailsInsideLoggerContext",
                },
            }
        )
        self.manager.fire("firstPageReceived", {"count": "many"})
        failed = self.manager.storage["t_import#0"]
        self.assertEqual(failed.status, "failed")
        self.assertIn(
            "Invalid trigger kwargs: firstPageReceived.count", failed.metadata["exc_message"]
        )
        logged = self.manager.storage["t_log#0"]
        self.assertEqual((logged.status, logged.log_level), ("finished", logging.ERROR))
        self.assertFalse(logged.logs_resolved)
        self.assertInstanceFailed("t_boom#0", ValueError)
        self.assertIn("bad row 7", self.manager.storage["t_boom#0"].logs[0]["message"])


class TypesAndStorageTestCase(TriggerManagerTestCaseMixin, TestCase):
    def setUp(self):
        super().setUp()
        self.manager = TriggerManager(CacheStorageBackend(self._testMethodName))
        self.manager.update_configuration(
            {
                "t": {"after": ["a", "b"], "run": DevNullTask.name, "priority": "high"},
                "u": {"after": ["a"], "andEvery": "a", "run": DevNullTask.name},
            }
        )

    def test_task_config(self):
        config = self.manager.storage.tasks["t"]
        self.assertIsInstance(config, TaskConfig)
        self.assertEqual(config.after, {"a", "b"})
        self.assertTrue(config.after.issubset({"a", "b", "c"}))
        self.assertEqual(config.extra, {"priority": "high"})

    def test_task_instance(self):
        self.manager.fire("a", {"x": 1})
        instance = self.manager.storage["t#0"]
        self.assertEqual(instance.config.name, "t")
        self.assertTrue(instance.can_schedule)
        self.assertFalse(instance.can_run)  # still waiting for "b"
        self.assertFalse(instance.can_skip or instance.can_replay or instance.can_abandon)
        self.assertEqual(instance.log_level, 0)
        self.assertIsNotNone(instance.last_modified)
        self.assertEqual(
            instance.serialize(),
            {
                "abandonState": [],
                "kwargs": {"a": {"x": 1}},
                "metadata": instance.metadata,
                "status": "unstarted",
                "task": "t",
            },
        )

    def test_storage_under_lock(self):
        self.manager.fire("a", {"x": 1})
        storage = self.manager.storage
        with storage.acquire_lock() as writable_storage:
            writable_storage.latest_kwargs["b"] = {"set": "by hand"}
            writable_storage["t#0"].metadata["note"] = "edited in place"
            writable_storage.save()
        storage.invalidate_cache()
        self.assertEqual(storage.latest_kwargs["b"], {"set": "by hand"})
        self.assertEqual(storage["t#0"].metadata["note"], "edited in place")
        with storage.acquire_lock() as writable_storage:
            writable_storage["t#0"].metadata["note"] = "not saved"
        self.assertEqual(storage["t#0"].metadata["note"], "edited in place")

    def test_instances_of_task_and_iteration(self):
        self.manager.fire("a")
        self.manager.fire("a")
        instances = self.manager.storage.instances_of_task(self.manager.storage.tasks["u"])
        self.assertEqual(list(instances), ["u#0", "u#1"])
        self.assertTrue(all(isinstance(i, TaskInstance) for i in instances.values()))
        self.assertEqual(
            sorted(i.name for i in self.manager.storage.iter_instances()), ["t#0", "u#0", "u#1"]
        )
        clone = self.manager.storage.clone_instance("u#0")
        self.assertEqual((clone.status, clone.depth, clone.parent), ("unstarted", 1, "u#0"))

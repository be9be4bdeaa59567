"""Every public ``triggers`` import path named in the docs or earlier issues still imports,
and every module moved by issue 15 is the same module under its old name."""

from __future__ import annotations

import importlib

from django.test import SimpleTestCase

NAMES = [
    ("triggers", "TriggerManager"),
    ("triggers.manager", "TriggerManager"),
    ("triggers.manager", "trigger_managers"),
    ("triggers.storages.cache", "CacheStorageBackend"),
    ("triggers.storages.db", "DatabaseStorageBackend"),
    ("triggers.storages.base", "BaseTriggerStorage"),
    ("triggers.storages", "storage_backends"),
    ("triggers.storages.state", "SessionState"),
    ("triggers.storages.kv", "RedisKV"),
    ("triggers.storages.records", "RecordStorage"),
    ("triggers.task", "TriggerTask"),
    ("triggers.testing", "TriggerTestMixin"),
    ("triggers.types", "TaskInstance"),
    ("triggers.runners", "BaseRunner"),
    ("triggers.runners.base", "Dispatch"),
    ("triggers.worker", "Worker"),
    ("triggers.worker", "SimpleWorker"),
    ("triggers.jobs", "run_instance"),
    ("triggers.recovery", "recover"),
    ("triggers.watch", "Lease"),
    ("triggers.watch", "control_connection"),
    ("triggers.execution", "execute_instance"),
    ("triggers.lifecycle", "InstanceLifecycle"),
    ("triggers.transitions", "set_status"),
    ("triggers.storable", "storable_text"),
    ("triggers.configuration", "parse_configuration"),
    ("triggers.registry", "flush_pending_counts"),
]

MOVED = {
    "triggers.watch": "triggers.rq.watch",
    "triggers.jobs": "triggers.rq.jobs",
    "triggers.worker": "triggers.rq.worker",
    "triggers.runners.rq_runner": "triggers.rq.runner",
    "triggers.registry": "triggers.session_index",
    "triggers.storages.state": "triggers.storages.working_set",
    "triggers.storages.kv": "triggers.storages.cache_primitives",
    "triggers.storages.records": "triggers.storages.record_storage",
}


class ImportPathsTests(SimpleTestCase):
    def test_public_names_import(self):
        for module, name in NAMES:
            with self.subTest(f"{module}.{name}"):
                self.assertTrue(hasattr(importlib.import_module(module), name))

    def test_moved_modules_are_the_new_ones(self):
        for old, new in MOVED.items():
            with self.subTest(old):
                self.assertIs(importlib.import_module(old), importlib.import_module(new))

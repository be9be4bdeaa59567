"""The contract every trigger storage backend passes: mix into a test case per backend.

Shipped with the package so that third-party backends run the same suite as the built-ins::

    class MyStorageTests(StorageContractTests, SimpleTestCase):
        def make_storage(self, uid):
            return MyStorage(uid)
"""

from __future__ import annotations

import threading
import uuid

from django.db import connections

from triggers.exceptions import UnknownInstanceError, UnknownTaskError
from triggers.storages.base import BaseTriggerStorage
from triggers.types import TaskConfig, TaskInstance

CONFIGS = {
    "fetch": TaskConfig(name="fetch", after=["start"], run="contract.noop"),
    "store": TaskConfig(
        name="store",
        after=["fetch"],
        run="contract.noop",
        and_every="fetch",
        unless=["halt"],
        with_params={"fetch": {"limit": 5}},
        using="sync",
        extras={"queue": "slow"},
    ),
}


class StorageContractTests:
    """Needs ``unittest.TestCase`` assertions; ``make_storage`` builds the backend under test."""

    def make_storage(self, uid: str) -> BaseTriggerStorage:
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.uid = f"contract-{uuid.uuid4().hex}"
        self.storage = self.make_storage(self.uid)

    def configured(self) -> BaseTriggerStorage:
        with self.storage.transaction() as state:
            state.set_configs(dict(CONFIGS))
        return self.storage

    def reopened(self) -> BaseTriggerStorage:
        """A second storage object on the same session, as another process would have."""
        return self.make_storage(self.uid)

    def test_has_a_name(self):
        self.assertTrue(self.storage.name)
        self.assertEqual(self.storage.uid, self.uid)

    def test_empty_session(self):
        self.assertEqual(list(self.storage), [])
        self.assertEqual(len(self.storage), 0)
        self.assertEqual(self.storage.tasks, {})
        self.assertEqual(self.storage.metadata, {})
        self.assertEqual(self.storage.get_unresolved_tasks(), [])
        with self.assertRaises(KeyError) as caught:
            self.storage["fetch#0"]
        self.assertIsInstance(caught.exception, UnknownInstanceError)
        self.assertIn("fetch#0", str(caught.exception))
        self.assertIn(self.uid, str(caught.exception))

    def test_configurations_round_trip(self):
        self.configured()
        self.assertEqual(self.reopened().tasks, CONFIGS)

    def test_create_instance_names_and_kwargs(self):
        self.configured()
        first = self.storage.create_instance(CONFIGS["fetch"], kwargs={"start": {"a": 1}})
        second = self.storage.create_instance("fetch", metadata={"note": "x"})
        self.assertEqual((first.name, second.name), ("fetch#0", "fetch#1"))
        other = self.reopened()
        self.assertEqual(other["fetch#0"], first)
        self.assertEqual(other["fetch#1"].metadata["note"], "x")
        self.assertEqual(set(other["fetch#1"].metadata["timestamps"]), {"created", "lastModified"})
        self.assertIn("fetch#1", other)
        self.assertNotIn("fetch#2", other)
        self.assertEqual(len(other), 2)
        self.assertEqual(sorted(inst.name for inst in other), ["fetch#0", "fetch#1"])

    def test_create_instance_of_unknown_task(self):
        self.configured()
        with self.assertRaises(UnknownTaskError):
            self.storage.create_instance("nope")

    def test_clone_instance(self):
        self.configured()
        original = self.storage.create_instance("fetch", kwargs={"start": {"a": 1}})
        clone = self.storage.clone_instance(original)
        self.assertEqual(clone.name, "fetch#1")
        self.assertEqual(clone.kwargs, original.kwargs)
        again = self.storage.clone_instance("fetch#1")
        self.assertEqual(again.name, "fetch#2")
        with self.assertRaises(UnknownInstanceError):
            self.storage.clone_instance("fetch#9")

    def test_instances_of_task(self):
        self.configured()
        self.storage.create_instance("fetch")
        self.storage.create_instance("store")
        self.storage.create_instance("fetch")
        other = self.reopened()
        self.assertEqual(
            list(other.instances_of_task(CONFIGS["fetch"])),
            ["fetch#0", "fetch#1"],
        )
        self.assertEqual(list(other.instances_of_task("store")), ["store#0"])

    def test_unresolved_queries(self):
        self.configured()
        with self.storage.transaction() as state:
            done = state.new_instance("fetch", status="finished")
            state.new_instance("fetch", status="failed")
            noisy = state.new_instance("fetch", status="finished")
            noisy.metadata.update(log_level=40, logs_resolved=False)
            state.save_instance(noisy)
        other = self.reopened()
        self.assertEqual([inst.name for inst in other.get_unresolved_instances()], ["fetch#1"])
        self.assertEqual([task.name for task in other.get_unresolved_tasks()], ["fetch", "store"])
        self.assertEqual(
            [inst.name for inst in other.get_instances_with_unresolved_logs()], ["fetch#2"]
        )
        self.assertEqual(other[done.name].status, "finished")

    def test_unstarted_index_follows_status_changes(self):
        self.configured()
        with self.storage.transaction() as state:
            for _ in range(3):
                state.new_instance("store")
        with self.reopened().transaction() as state:
            self.assertEqual(state.unstarted_names("store"), ["store#0", "store#1", "store#2"])
            middle = state.get_instance("store#1")
            middle.status = "scheduled"
            state.save_instance(middle)
        with self.reopened().transaction() as state:
            self.assertEqual(state.unstarted_names("store"), ["store#0", "store#2"])
            self.assertEqual(state.counts, {"store": 3})

    def test_metadata_round_trip(self):
        with self.storage.transaction() as state:
            state.metadata["latest_kwargs"] = {"start": {"é": [1, 2.5, None, True]}}
            state.touch_metadata()
        self.assertEqual(self.reopened().latest_kwargs, {"start": {"é": [1, 2.5, None, True]}})

    def test_failed_unit_of_work_writes_nothing(self):
        self.configured()
        with self.assertRaises(RuntimeError), self.storage.transaction() as state:
            state.new_instance("fetch")
            state.metadata["x"] = 1
            state.touch_metadata()
            raise RuntimeError("half way")
        other = self.reopened()
        self.assertEqual(list(other), [])
        self.assertEqual(other.metadata, {})
        # and the lock was released: the next unit of work goes through
        with other.transaction() as state:
            state.new_instance("fetch")
        self.assertEqual(self.reopened()["fetch#0"].name, "fetch#0")

    def test_seed_minimum_contract(self):
        self.configured()
        self.storage.create_instance("fetch", kwargs={"start": {}})
        configs, instances, metas = self.storage._load_from_backend()
        self.assertEqual(configs, CONFIGS)
        self.assertEqual(list(instances), ["fetch#0"])
        self.assertIsInstance(instances["fetch#0"], TaskInstance)
        self.assertIsInstance(metas, dict)
        writer = self.reopened()
        writer._configs, writer._instances, writer._metas = configs, instances, {"k": "v"}
        writer._instances["fetch#0"].status = "scheduled"
        writer._instances["store#0"] = TaskInstance("store#0", "store", kwargs={"fetch": {}})
        writer._save()
        other = self.reopened()
        self.assertEqual(other["fetch#0"].status, "scheduled")
        self.assertEqual(other["store#0"].kwargs, {"fetch": {}})
        self.assertEqual(other.metadata, {"k": "v"})
        self.assertEqual(other.create_instance("store").name, "store#1")

    def test_serialize_round_trip(self):
        self.configured()
        self.storage.create_instance("store", kwargs={"fetch": {"n": 1}})
        storage = self.reopened()
        storage._configs, storage._instances, storage._metas = storage._load_from_backend()
        data = storage._serialize()
        self.assertEqual(
            storage._deserialize(data), (storage._configs, storage._instances, storage._metas)
        )

    def test_names_with_spaces_and_unicode(self):
        storage = self.make_storage(f"{self.uid} é/ü")
        config = TaskConfig(name="task ü", after=["go on"], run="contract.noop")
        with storage.transaction() as state:
            state.set_configs({config.name: config})
            state.new_instance(config.name)
        self.assertEqual(self.make_storage(f"{self.uid} é/ü")["task ü#0"].task_name, "task ü")

    def test_delete_removes_the_session(self):
        self.configured()
        self.storage.create_instance("fetch", kwargs={"start": {}})
        self.storage.delete()
        other = self.reopened()
        self.assertEqual((list(other), other.tasks, other.metadata), ([], {}, {}))

    def test_concurrent_units_of_work_lose_no_update(self):
        def bump(times: int) -> None:
            storage = self.reopened()
            try:
                for _ in range(times):
                    with storage.transaction() as state:
                        state.metadata["n"] = state.metadata.get("n", 0) + 1
                        state.touch_metadata()
            finally:
                connections.close_all()  # this thread's own database connections

        threads = [threading.Thread(target=bump, args=(25,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(self.reopened().metadata["n"], 100)

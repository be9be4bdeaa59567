"""Backends written against the storage contract's old hook names keep working, and warn.

legacy-hook-names: keep (this marker keeps the rename script of issue 15 out of this file)
"""

from __future__ import annotations

import warnings
from typing import Any

from django.test import SimpleTestCase, override_settings

from tests.support.backends import DictStorage
from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.storages.base import BaseTriggerStorage
from triggers.storages.cache import CacheStorageBackend
from triggers.storages.contract import StorageContractTests
from triggers.storages.working_set import SessionState
from triggers.types import TaskConfig, TaskInstance

T = "tests.support.tasks."


def deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    return sorted(str(w.message) for w in caught if issubclass(w.category, DeprecationWarning))


with warnings.catch_warnings(record=True) as DEFINING_LEGACY_STORAGE:
    warnings.simplefilter("always")

    class LegacyDictStorage(DictStorage):
        """Overrides every lock and write hook under its old name, calling the base's."""

        name = "legacy-dict"

        def __init__(self, uid: str) -> None:
            super().__init__(uid)
            self.calls: list[str] = []

        def _acquire_lock(self) -> Any:
            self.calls.append("lock")
            return super()._acquire_lock()

        def _release_lock(self, token: Any) -> None:
            self.calls.append("release")
            super()._release_lock(token)

        def _new_locked_state(self, token: Any) -> SessionState:
            self.calls.append("state")
            return super()._new_locked_state(token)

        def _commit(self, state, changes, token) -> bool:
            self.calls.append("commit")
            return super()._commit(state, changes, token)

        def _abort(self, token: Any) -> None:
            self.calls.append("abort")
            super()._abort(token)

        def _after_commit(self, changes) -> None:
            self.calls.append("after")
            super()._after_commit(changes)


class LegacyBackendContractTests(StorageContractTests, SessionTestCase):
    """The whole storage contract on a backend that only knows the old names."""

    def make_storage(self, uid):
        return LegacyDictStorage(uid)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class LegacyHookTests(SessionTestCase):
    def test_old_names_warn_when_the_class_is_defined(self):
        found = deprecations(DEFINING_LEGACY_STORAGE)
        self.assertEqual(len(found), 6, found)  # every hook it overrides, once
        self.assertTrue(any("_commit() is now called commit()" in m for m in found), found)
        self.assertTrue(all("LegacyDictStorage" in m for m in found), found)
        # pointing at the class statement, not at the base
        self.assertEqual({w.filename for w in DEFINING_LEGACY_STORAGE}, {__file__})

    def test_the_base_calls_the_old_overrides(self):
        storage = LegacyDictStorage(new_uid("legacy"))
        manager = TriggerManager(storage)
        manager.update_configuration({"ok": {"after": ["go"], "run": T + "noop"}})
        self.assertEqual(storage.calls, ["lock", "state", "commit", "release", "after"])
        storage.calls.clear()
        manager.fire("go")
        self.assertEqual(storage["ok#0"].status, "finished")
        self.assertIn("commit", storage.calls)
        self.assertEqual(storage.calls.count("lock"), storage.calls.count("release"))

    def test_a_failed_unit_of_work_reaches_the_old_abort(self):
        storage = LegacyDictStorage(new_uid("legacy"))
        with self.assertRaises(RuntimeError), storage.transaction() as state:
            state.set_configs({})
            raise RuntimeError("the operation failed")
        self.assertEqual(storage.calls, ["lock", "state", "abort", "release"])
        self.assertFalse(storage.snapshot().configs)

    def test_an_old_override_of_a_built_in_backend_calls_through_to_it(self):
        with self.assertWarnsRegex(DeprecationWarning, r"_commit\(\) is now called commit\(\)"):

            class CountingCache(CacheStorageBackend):
                commits = 0

                def _commit(self, state, changes, token):
                    type(self).commits += 1
                    return super()._commit(state, changes, token)  # the built-in, not itself

        manager = TriggerManager(CountingCache(new_uid("legacy-cache")))
        manager.update_configuration({"ok": {"after": ["go"], "run": T + "noop"}})
        manager.fire("go")
        self.assertEqual(manager.storage["ok#0"].status, "finished")
        self.assertGreaterEqual(CountingCache.commits, 3)  # configure, fire, start, complete

    def test_a_mixin_that_is_not_a_storage_is_adopted_too(self):
        class LockCountingMixin:
            taken = 0

            def _acquire_lock(self):
                type(self).taken += 1
                return super()._acquire_lock()  # type: ignore[misc]

        with self.assertWarnsRegex(DeprecationWarning, "_acquire_lock"):

            class MixedStorage(LockCountingMixin, DictStorage):
                name = "mixed"

        storage = MixedStorage(new_uid("legacy-mixin"))
        with storage.transaction() as state:
            state.set_configs({})
        self.assertEqual(MixedStorage.taken, 1)


class LegacyStateTests(SimpleTestCase):
    def test_a_state_with_old_fetch_names_is_concrete_and_read_through_them(self):
        config = TaskConfig(name="t", after=["go"], run=T + "noop")
        stored = TaskInstance("t#0", "t", "unstarted")
        with self.assertWarnsRegex(DeprecationWarning, "_fetch_configs") as warned:

            class LegacyState(SessionState):
                def _fetch_configs(self):
                    return {"t": config}

                def _fetch_metadata(self):
                    return {"k": 1}

                def _fetch_counts(self):
                    return {"t": 1}

                def _fetch_instances(self, names):
                    return {name: stored for name in names if name == "t#0"}

                def _fetch_unstarted(self, task_name):
                    return ["t#0"] if task_name == "t" else []

        self.assertEqual(warned.filename, __file__)
        state = LegacyState("legacy-state")
        self.assertEqual(state.configs, {"t": config})
        self.assertEqual(state.metadata, {"k": 1})
        self.assertEqual([inst.name for inst in state.all_instances()], ["t#0"])
        self.assertEqual(state.unstarted_names("t"), ["t#0"])

    def test_a_state_missing_a_primitive_is_still_abstract(self):
        with self.assertWarns(DeprecationWarning):

            class Incomplete(SessionState):
                def _fetch_configs(self):
                    return {}

        with self.assertRaises(TypeError):
            Incomplete("incomplete")  # type: ignore[abstract]


class NewNameTests(SimpleTestCase):
    def test_new_names_do_not_warn_and_answer_to_the_old_ones(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")

            class Modern(DictStorage):
                name = "modern"

                def commit(self, state, changes, token):
                    return super().commit(state, changes, token)

        self.assertEqual(deprecations(caught), [])
        self.assertIs(vars(Modern)["_commit"], vars(Modern)["commit"])
        self.assertIs(vars(BaseTriggerStorage)["_acquire_lock"], BaseTriggerStorage.take_lock)

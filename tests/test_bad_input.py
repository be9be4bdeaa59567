"""Bad input gets an error that names what was wrong, and nothing is half-written."""

from __future__ import annotations

from importlib import import_module
from unittest import mock

from django.test import SimpleTestCase, override_settings

from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.exceptions import (
    ConfigurationError,
    InvalidKwargsError,
    UnknownBackendError,
    UnknownInstanceError,
)
from triggers.runners import get_runner_class
from triggers.storages import get_storage, get_storage_class

GOOD = {"ok": {"after": ["start"], "run": "tests.support.tasks.noop"}}


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class MalformedConfigurations(SessionTestCase):
    def setUp(self):
        self.manager = TriggerManager.for_session(new_uid())
        self.manager.update_configuration(GOOD)

    def assertRejected(self, config, task, directive, fragment):
        with self.assertRaises(ConfigurationError) as caught:
            self.manager.update_configuration(config)
        error = caught.exception
        self.assertIsInstance(error, ValueError)
        self.assertEqual((error.task, error.directive), (task, directive))
        self.assertIn(fragment, str(error))
        if task is not None:
            self.assertIn(repr(task), str(error))
        self.assertEqual(self.manager.storage.tasks.keys(), GOOD.keys(), "config was changed")

    def test_missing_after(self):
        self.assertRejected({"t": {"run": "tests.support.tasks.noop"}}, "t", "after", "is required")

    def test_missing_run(self):
        self.assertRejected({"t": {"after": ["a"]}}, "t", "run", "is required")

    def test_after_must_be_a_list_of_strings(self):
        self.assertRejected({"t": {"after": "a", "run": "x.y"}}, "t", "after", "list")
        self.assertRejected({"t": {"after": [], "run": "x.y"}}, "t", "after", "at least one")
        self.assertRejected({"t": {"after": ["a", 3], "run": "x.y"}}, "t", "after[1]", "3")

    def test_and_every_must_be_a_string(self):
        config = {"t": {"after": ["a"], "andEvery": ["a"], "run": "tests.support.tasks.noop"}}
        self.assertRejected(config, "t", "andEvery", "one trigger name")

    def test_unless_with_params_using(self):
        base = {"after": ["a"], "run": "tests.support.tasks.noop"}
        self.assertRejected({"t": {**base, "unless": "stop"}}, "t", "unless", "list")
        self.assertRejected({"t": {**base, "withParams": [1]}}, "t", "withParams", "mapping")
        self.assertRejected({"t": {**base, "using": "warp"}}, "t", "using", "unknown runner 'warp'")

    def test_run_target_must_resolve(self):
        self.assertRejected(
            {"t": {"after": ["a"], "run": "tests.support.tasks.missing"}},
            "t",
            "run",
            "cannot resolve",
        )
        self.assertRejected(
            {"t": {"after": ["a"], "run": "unregistered"}}, "t", "run", "registered task name"
        )
        self.assertRejected(
            {"t": {"after": ["a"], "run": "tests.support.tasks.NotATask"}},
            "t",
            "run",
            "TriggerTask",
        )

    def test_shape_errors(self):
        self.assertRejected({"t": ["after"]}, "t", None, "mapping of directives")
        self.assertRejected({"t#1": {"after": ["a"], "run": "x.y"}}, "t#1", None, "'#'")
        long_name = "t" * 256
        self.assertRejected(
            {long_name: {"after": ["a"], "run": "x.y"}}, "t" * 40 + "...", None, "at most 255"
        )
        with self.assertRaisesMessage(ConfigurationError, "mapping of task names"):
            self.manager.update_configuration([("t", {})])

    def test_one_bad_task_among_good_ones_changes_nothing(self):
        config = {
            "new": {"after": ["a"], "run": "tests.support.tasks.noop"},
            "bad": {"after": ["a"], "run": "tests.support.tasks.noop", "withParams": {"f": {1, 2}}},
        }
        self.assertRejected(config, None, None, "withParams")


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class BadOperations(SessionTestCase):
    def setUp(self):
        self.manager = TriggerManager.for_session(new_uid())
        self.manager.update_configuration(
            {"t": {"after": ["start"], "run": "tests.support.tasks.boom"}}
        )

    def test_replay_or_skip_of_an_unknown_instance(self):
        with self.assertRaisesMessage(UnknownInstanceError, "no task instance named 't#7'"):
            self.manager.replay_failed_instance("t#7")
        with self.assertRaisesMessage(UnknownInstanceError, "no task instance named 'zz#0'"):
            self.manager.skip_failed_instance("zz#0")

    def test_replay_with_kwargs_that_are_not_objects(self):
        self.manager.fire("start")
        with self.assertRaisesMessage(
            InvalidKwargsError, "the kwargs of trigger 'nope' must be a JSON object, not int"
        ):
            self.manager.replay_failed_instance("t#0", {"nope": 5})
        self.assertEqual(self.manager.storage["t#0"].status, "failed")
        self.assertNotIn("t#1", self.manager.storage)

    def test_unstorable_kwargs_are_refused_before_anything_is_written(self):
        with self.assertRaisesMessage(InvalidKwargsError, "value at when.at is a object"):
            self.manager.fire("start", {"when": {"at": object()}})
        with self.assertRaisesMessage(InvalidKwargsError, "mapping"):
            self.manager.fire("start", ["a"])
        with self.assertRaisesMessage(InvalidKwargsError, "non-empty string"):
            self.manager.fire("")
        self.assertEqual(list(self.manager.storage), [])
        self.assertEqual(self.manager.storage.metadata, {})

    def test_manager_needs_a_storage(self):
        with self.assertRaisesMessage(TypeError, "for_session"):
            TriggerManager("uid")


class UnknownBackendNames(SimpleTestCase):
    def test_unknown_storage_lists_known_names(self):
        with self.assertRaises(UnknownBackendError) as caught:
            get_storage_class("nosuch")
        message = str(caught.exception)
        self.assertIn("unknown storage 'nosuch'", message)
        self.assertIn("cache", message)

    def test_unknown_dotted_path(self):
        with self.assertRaisesMessage(UnknownBackendError, "unknown storage 'a.b.C'"):
            get_storage("u", "a.b.C")

    def test_dotted_path_and_type_check(self):
        self.assertEqual(get_storage_class("tests.support.backends.DictStorage").name, "dict")
        with self.assertRaisesMessage(TypeError, "not a BaseTriggerStorage"):
            get_storage_class("tests.support.tasks.Multiply")

    def test_unknown_runner(self):
        with self.assertRaisesMessage(UnknownBackendError, "unknown runner 'warp'"):
            get_runner_class("warp")

    def test_entry_points_are_consulted(self):
        entry_point = mock.Mock()
        entry_point.name = "plugged"
        entry_point.load.return_value = import_module("tests.support.backends").DictStorage
        with mock.patch("triggers.plugins.entry_points", return_value=[entry_point]):
            self.assertEqual(get_storage_class("plugged").name, "dict")
            with self.assertRaisesMessage(UnknownBackendError, "plugged"):
                get_storage_class("other")

    def test_entry_point_that_fails_to_load(self):
        entry_point = mock.Mock()
        entry_point.name = "broken"
        entry_point.load.side_effect = ImportError("no module named broken_pkg")
        with (
            mock.patch("triggers.plugins.entry_points", return_value=[entry_point]),
            self.assertRaisesMessage(UnknownBackendError, "entry point failed to load"),
        ):
            get_storage_class("broken")

    def test_installed_distribution_declares_builtin_entry_points(self):
        from importlib.metadata import entry_points

        storages = {ep.name: ep.value for ep in entry_points(group="triggers.storages")}
        runners = {ep.name: ep.value for ep in entry_points(group="triggers.runners")}
        self.assertEqual(storages["cache"], "triggers.storages.cache:CacheStorageBackend")
        self.assertEqual(storages["db"], "triggers.storages.db:DatabaseStorageBackend")
        self.assertEqual(runners["sync"], "triggers.runners.sync:SyncRunner")
        self.assertEqual(runners["rq"], "triggers.runners.rq_runner:RQRunner")


def nested(depth: int) -> dict:
    """A mapping ``depth`` levels deep, built without recursion."""
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class UnknownDirectives(SessionTestCase):
    def setUp(self):
        self.manager = TriggerManager.for_session(new_uid())

    def test_a_near_miss_of_a_directive_is_refused_with_a_suggestion(self):
        base = {"after": ["a"], "run": "tests.support.tasks.noop"}
        cases = [
            ("unles", "unless"),
            ("withParam", "withParams"),
            ("with_params", "withParams"),
            ("andevery", "andEvery"),
            ("Using", "using"),
            ("queu", "queue"),
        ]
        for key, suggestion in cases:
            with self.subTest(key=key):
                with self.assertRaises(ConfigurationError) as caught:
                    self.manager.update_configuration({"t": {**base, key: ["stop"]}})
                error = caught.exception
                self.assertEqual((error.task, error.directive), ("t", key))
                self.assertIn(f"did you mean {suggestion!r}?", str(error))
        self.assertEqual(self.manager.storage.tasks, {})

    def test_other_unknown_keys_stay_extras(self):
        config = {
            "after": ["a"],
            "run": "tests.support.tasks.noop",
            "queue": "low",
            "description": "d",
        }
        self.manager.update_configuration({"t": config})
        self.assertEqual(
            self.manager.storage.tasks["t"].extras, {"queue": "low", "description": "d"}
        )


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class DeepAndLongInput(SessionTestCase):
    def test_kwargs_nested_too_deep_are_refused_naming_the_limit(self):
        manager = TriggerManager.for_session(new_uid())
        manager.update_configuration(GOOD)
        with self.assertRaisesMessage(InvalidKwargsError, "nested more than 100 levels deep"):
            manager.fire("start", nested(10_000))
        manager.fire("start", nested(90))  # deep, but within the limit
        self.assertEqual(manager.storage["ok#0"].status, "finished")

    def test_a_session_uid_over_255_characters_is_refused_by_every_storage(self):
        uid = "u" * 256
        for name in ("cache", "db", "tests.support.backends.DictStorage"):
            with self.subTest(storage=name), self.assertRaises(ValueError) as caught:
                get_storage(uid, name)
            self.assertIn("at most 255 characters", str(caught.exception))
            self.assertIn("256", str(caught.exception))
        with self.assertRaisesMessage(ValueError, "at most 255 characters"):
            get_storage_class("tests.support.backends.DictStorage")(uid)
        for name in ("cache", "db"):
            self.assertEqual(get_storage("u" * 255, name).uid, "u" * 255)


class LargeGraphs(SimpleTestCase):
    def test_a_chain_of_1200_tasks_renders(self):
        from triggers.graph import render_svg
        from triggers.types import TaskConfig

        configs = {
            f"t{i}": TaskConfig(
                f"t{i}", [f"t{i - 1}" if i else "start"], "tests.support.tasks.noop"
            )
            for i in reversed(range(1200))  # the last first: no column is known in advance
        }
        svg = render_svg(configs, [])
        self.assertIn('data-node="t1199"', svg)
        self.assertEqual(svg.count("<line "), 1200)

    def test_cycles_still_render(self):
        from triggers.graph import _columns
        from triggers.types import TaskConfig

        configs = {
            "a": TaskConfig("a", ["b", "start"], "x.y"),
            "b": TaskConfig("b", ["a"], "x.y"),
            "c": TaskConfig("c", ["b"], "x.y"),
        }
        columns = _columns(configs)
        self.assertEqual(columns["start"], 0)
        self.assertLess(columns["b"], columns["c"])

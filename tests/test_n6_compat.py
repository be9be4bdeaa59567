"""Code written for n6's stateful collectors, tested the way n6's own tests are written
(unittest classes, patched module ``LOGGER``, one state directory per test).

Only what docs/migrating.md (the n6 section) tells a migrating user to change is changed:
the import (``collector_app.state.StatefulCollectorMixin`` for
``n6datasources.collectors.base.StatefulCollectorMixin``), the constructor's ``name=`` and
``config=`` (the n6 config section, ``state_dir`` included) in place of n6's config file, and
no ``BaseCollector`` (no AMQP publishing here).
"""

import datetime
import os
import pickle
import unittest
from unittest import mock

import pytest
from django.test import TestCase, override_settings

from collector_app.state import (
    InvalidStateError,
    LegacyStateError,
    StatefulCollectorMixin,
    get_state_store,
)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo never run",))


class TestStatefulCollectorMixin(TestCase):
    class BareSubclass(StatefulCollectorMixin):
        pass

    DEFAULT_STATE = "This is default state - test"

    class ExampleStatefulCollector(StatefulCollectorMixin):
        def make_default_state(self):
            return TestStatefulCollectorMixin.DEFAULT_STATE

        def run(self):
            state = self.load_state()
            self.save_state(state)

    STATE_CASES = [
        "1 2 3 abc",
        ["whatever", 42, True],
        None,
        "żółte kąty",
        b"\xc5\xbc\xc3\xb3\xc5\x82te k\xc4\x85ty",
        datetime.date(2022, 1, 3),
        {b"\xdc": datetime.date(2022, 1, 3), (1.3,): {13, "x"}},
        {"last_utc": datetime.datetime(2024, 5, 1, 10, 0, 0)},
        {"seen": {("a", 1), ("b", 2)}, "events": ((1, 2), (3, 4))},
    ]

    @pytest.fixture(autouse=True)
    def _state_dir(self, tmp_path):
        self.state_dir = tmp_path / "n6state"
        self.state_dir.mkdir()

    def _prepare_collector(self, **config):
        collector_class = self.ExampleStatefulCollector
        return collector_class(name="example", config={"state_dir": str(self.state_dir), **config})

    def _n6_state_file(self, collector):
        return self.state_dir / collector.get_state_file_name()

    #
    # Actual tests

    def test_saving_and_loading_state(self):
        for state in self.STATE_CASES:
            with self.subTest(state=state):
                logger_warning_mock = self.enterContext(
                    mock.patch("collector_app.state.handle.LOGGER")
                ).warning
                collector = self._prepare_collector(case=repr(state))
                assert os.listdir(self.state_dir) == []

                collector.save_state(state)
                loaded_state = self._prepare_collector(case=repr(state)).load_state()

                self.assertEqual(loaded_state, state)
                self.assertEqual(type(loaded_state), type(state))
                self.assertEqual(os.listdir(self.state_dir), [])  # kept in the store
                self.assertEqual(logger_warning_mock.call_count, 0)

    def test_saving_and_loading_state_in_the_file_store(self):
        with override_settings(
            COLLECTORS={"STATE_STORE": "file", "STATE_DIR": str(self.state_dir / "json")}
        ):
            for state in self.STATE_CASES:
                with self.subTest(state=state):
                    self._prepare_collector(case=repr(state)).save_state(state)
                    loaded_state = self._prepare_collector(case=repr(state)).load_state()
                    self.assertEqual(loaded_state, state)

    def test_using_default_state(self):
        logger_warning_mock = self.enterContext(
            mock.patch("collector_app.state.handle.LOGGER")
        ).warning
        collector = self._prepare_collector()

        loaded_state = collector.load_state()

        self.assertEqual(loaded_state, self.DEFAULT_STATE)
        self.assertEqual(logger_warning_mock.call_count, 1)
        self.assertEqual(os.listdir(self.state_dir), [])
        self.assertEqual(collector.make_default_state(), self.DEFAULT_STATE)

    def test__get_state_file_name(self):
        obj = self.BareSubclass.__new__(self.BareSubclass)
        expected_state_file_name = f"{__name__}.TestStatefulCollectorMixin.BareSubclass.pickle"

        self.assertEqual(obj.get_state_file_name(), expected_state_file_name)

    def test__get_state_file_name__raises_error_if_collector_module_name_is_dunder_main(self):
        self.enterContext(mock.patch.object(self.BareSubclass, "__module__", "__main__"))
        obj = self.BareSubclass.__new__(self.BareSubclass)
        expected_error_regex = (
            r"'__main__' is not the proper name of the module containing \S+\.BareSubclass"
        )

        with self.assertRaisesRegex(ValueError, expected_error_regex):
            obj.get_state_file_name()

    def test__make_default_state__base_version(self):
        obj = self.BareSubclass.__new__(self.BareSubclass)

        self.assertIsNone(obj.make_default_state())

    def test__init__accepts_state_pickle_protocol(self):
        collector = self.ExampleStatefulCollector(
            name="example", config={}, state_pickle_protocol=3
        )
        self.assertEqual(collector.load_state(), self.DEFAULT_STATE)

    def test_state_dir_does_not_change_which_state_is_used(self):
        with_dir = self._prepare_collector()
        without_dir = self.ExampleStatefulCollector(name="example", config={})
        self.assertEqual(with_dir.state_key, without_dir.state_key)

    #
    # Existing n6 state files

    def test_n6_state_file_is_migrated_on_first_load(self):
        state = {"last_utc": datetime.datetime(2024, 5, 1, 10, 0), "seen": {"a", "b"}}
        collector = self._prepare_collector()
        with open(self._n6_state_file(collector), "wb") as state_file:
            pickle.dump(state, state_file, pickle.HIGHEST_PROTOCOL)
        logger_warning_mock = self.enterContext(
            mock.patch("collector_app.state.handle.LOGGER")
        ).warning

        loaded_state = collector.load_state()

        self.assertEqual(loaded_state, state)
        self.assertEqual(logger_warning_mock.call_count, 1)
        report = logger_warning_mock.call_args.args
        self.assertIn("migrated the n6 state file", report[0])
        self.assertEqual(report[2], self._n6_state_file(collector))
        # saved in the configured store: read from there even once the file is gone
        os.remove(self._n6_state_file(collector))
        self.assertEqual(self._prepare_collector().load_state(), state)
        self.assertEqual(get_state_store().load(collector.state_key), state)

    def test_stored_state_wins_over_n6_state_file(self):
        collector = self._prepare_collector()
        collector.save_state({"n": 2})
        with open(self._n6_state_file(collector), "wb") as state_file:
            pickle.dump({"n": 1}, state_file)

        self.assertEqual(collector.load_state(), {"n": 2})

    def test_py2_pickle_is_adjusted(self):
        class Py2Collector(self.ExampleStatefulCollector):
            def adjust_state_from_py2_pickle(self, state):
                return {"adjusted": state}

        collector = Py2Collector(name="py2", config={"state_dir": str(self.state_dir)})
        with open(self._n6_state_file(collector), "wb") as state_file:
            pickle.dump({"ids": [1, 2], "pair": (3, 4)}, state_file, protocol=2)

        self.assertEqual(collector.load_state(), {"adjusted": {"ids": [1, 2], "pair": (3, 4)}})

    def test_n6_state_file_with_other_globals_is_refused(self):
        collector = self._prepare_collector()
        path = self._n6_state_file(collector)
        for payload, global_name in [
            (_Evil(), "posix.system"),
            ({"obj": unittest.TestCase()}, "unittest.case.TestCase"),
        ]:
            with self.subTest(global_name=global_name):
                with open(path, "wb") as state_file:
                    pickle.dump(payload, state_file)
                for _ in range(2):  # never replaced by the default state
                    with self.assertRaises(LegacyStateError) as caught:
                        collector.load_state()
                    message = str(caught.exception)
                    self.assertIn(str(path), message)
                    self.assertIn(global_name, message)
                    self.assertIn("'example'", message)
                self.assertIsNone(get_state_store().info(collector.state_key))

    def test_unreadable_n6_state_file_is_an_error(self):
        collector = self._prepare_collector()
        data = pickle.dumps({"last_utc": datetime.datetime(2024, 5, 1)})
        self._n6_state_file(collector).write_bytes(data[: len(data) // 2])

        with self.assertRaisesRegex(LegacyStateError, "cannot be unpickled"):
            collector.load_state()

    def test_n6_state_that_cannot_be_stored_is_an_error_naming_the_file(self):
        collector = self._prepare_collector()
        with open(self._n6_state_file(collector), "wb") as state_file:
            pickle.dump({"weight": 1.3j}, state_file)

        with self.assertRaises(LegacyStateError) as caught:
            collector.load_state()
        self.assertIn(str(self._n6_state_file(collector)), str(caught.exception))
        self.assertIn("state['weight'] is a complex", str(caught.exception))
        self.assertIsInstance(caught.exception.__cause__, InvalidStateError)

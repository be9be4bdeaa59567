"""The contract every state store passes: mix into a test case per store.

Shipped with the package so third-party stores run the same suite as the built-ins::

    class MyStoreTests(StateStoreContractTests, TransactionTestCase):
        def make_store(self):
            return MyStateStore(...)

        def crash_during_save(self):  # optional: a context manager making a save fail halfway
            return mock.patch(...)

        def corrupt(self, store, key):  # optional: damage what is stored under ``key``
            ...

Two store objects made by ``make_store`` must see the same data (as two processes would).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from django.db import connections

from .base import BaseStateStore, CorruptStateError, InvalidStateError, NoState

VALUES: list[Any] = [
    {"last_utc": "2024-05-01T10:00:00+00:00", "seen": [1, 2, 3], "nested": {"a": None}},
    [1, "two", 3.5, True, None],
    "plain text with unicode: zażółć ✓",
    42,
    None,
    {},
]
#: Values n6 collectors keep, stored as tagged JSON (``collector_app.state.tagged``).
TAGGED_VALUES: list[Any] = [
    {"last_utc": datetime(2024, 5, 1, 10, 0, 0, 123456)},
    {"since": datetime(2024, 5, 1, 10, 0, tzinfo=UTC)},
    {"local": datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))},
    date(2022, 1, 3),
    b"\xc5\xbc\xc3\xb3\xc5\x82te k\xc4\x85ty\x00\xff",
    {"seen": {"a", "b", "c"}, "ids": {3, 1, 2}, "empty": set()},
    ("a", 1, (2, 3), None),
    {("example.com", 443): {"last": date(2024, 1, 1)}, (1.5,): [b"x", {(1, 2)}]},
    {1: "int key", b"\xdc": date(2022, 1, 3), None: "none key"},
    {"$datetime": "not a tag: a user's own key"},
    {"$set": [1, 2], "other": 1},
    [{"$tuple": []}, {"nested": [({"deep": {b"k": (1,)}},)]}],
]
ODD_KEYS = ["a/b:1", "a%2Fb:1", "a_b:1", "with space:2", "ünï/cödé:3", "../escape:4", ".hidden:5"]


class StateStoreContractTests:
    """Needs ``unittest.TestCase`` assertions; ``make_store`` builds the store under test."""

    def make_store(self) -> BaseStateStore:
        raise NotImplementedError

    def crash_during_save(self) -> contextlib.AbstractContextManager[Any]:
        """Make the next save fail after it started writing; skipped if not given."""
        raise NotImplementedError

    def corrupt(self, store: BaseStateStore, key: str) -> None:
        """Damage what is stored under ``key`` (a save came first); skipped if not given."""
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.store = self.make_store()
        self.key = f"contract-{uuid.uuid4().hex[:8]}:0123456789ab"

    def save(self, state: Any, key: str | None = None, store: BaseStateStore | None = None):
        (store or self.store).save(key or self.key, state, "contract", "d" * 64)

    def test_has_a_name(self):
        self.assertTrue(self.store.name)

    def test_nothing_stored_is_no_state(self):
        with self.assertRaises(NoState) as caught:
            self.store.load(self.key)
        self.assertIsInstance(caught.exception, LookupError)
        self.assertIn(self.key, str(caught.exception))
        self.assertIsNone(self.store.info(self.key))
        self.assertNotIn(self.key, [record.key for record in self.store.list()])

    def test_round_trips_every_json_value(self):
        for value in VALUES:
            with self.subTest(value=value):
                self.save(value)
                self.assertEqual(self.make_store().load(self.key), value)

    def test_round_trips_tagged_values_with_their_types(self):
        for value in TAGGED_VALUES:
            with self.subTest(value=value):
                self.save(value)
                loaded = self.make_store().load(self.key)
                self.assertEqual(loaded, value)
                if isinstance(value, dict):  # the UTC offset too, not only the instant
                    for key, item in value.items():
                        if isinstance(item, datetime):
                            self.assertEqual(loaded[key].utcoffset(), item.utcoffset())
                self.assertEqual(_types(loaded), _types(value))

    def test_a_value_that_cannot_be_tagged_is_refused_naming_its_path(self):
        with self.assertRaises(InvalidStateError) as caught:
            self.save({"feeds": [{"ok": 1}, {"weight": 2j}]})
        self.assertIn("state['feeds'][1]['weight'] is a complex", str(caught.exception))
        with self.assertRaises(NoState):
            self.store.load(self.key)

    def test_saves_bump_the_version_and_keep_the_metadata(self):
        self.save({"n": 1})
        first = self.store.info(self.key)
        self.save({"n": 2})
        second = self.make_store().info(self.key)
        self.assertEqual((first.version, second.version), (1, 2))
        self.assertEqual((second.collector, second.config_digest), ("contract", "d" * 64))
        self.assertIsNotNone(second.updated)
        self.assertGreaterEqual(second.updated, first.updated)
        self.assertTrue(second.location)

    def test_reset_forgets_and_says_whether_there_was_a_state(self):
        self.save({"n": 1})
        self.assertTrue(self.store.reset(self.key))
        self.assertFalse(self.store.reset(self.key))
        with self.assertRaises(NoState):
            self.store.load(self.key)
        self.save({"n": 2})  # starts again at version 1
        self.assertEqual(self.store.info(self.key).version, 1)

    def test_list_has_every_saved_key(self):
        other = f"{self.key}-other"
        self.save(1)
        self.save(2, key=other)
        listed = {record.key: record for record in self.make_store().list()}
        self.assertEqual(listed[self.key].collector, "contract")
        self.assertIn(other, listed)

    def test_state_that_is_not_json_is_refused_and_the_old_one_kept(self):
        self.save({"n": 1})
        for bad in ({"when": object()}, {"n": float("nan")}, {"n": {"c": 1j}}):
            with self.subTest(bad=bad), self.assertRaises(InvalidStateError) as caught:
                self.save(bad)
            self.assertIn("contract", str(caught.exception))
        self.assertEqual(self.store.load(self.key), {"n": 1})
        self.assertEqual(self.store.info(self.key).version, 1)

    def test_odd_keys_are_kept_apart(self):
        for index, key in enumerate(ODD_KEYS):
            self.save({"i": index}, key=key)
        store = self.make_store()
        for index, key in enumerate(ODD_KEYS):
            self.assertEqual(store.load(key), {"i": index}, key)
        for key in ODD_KEYS:
            store.reset(key)

    def test_a_crash_in_the_middle_of_a_save_keeps_the_previous_state(self):
        try:
            crash = self.crash_during_save()
        except NotImplementedError:
            self.skipTest("this store's test gives no crash_during_save()")
        self.save({"n": 1})
        raised = None
        try:
            with crash:
                self.save({"n": 2, "big": "x" * 100_000})
        except Exception as exc:  # whatever the injected failure raises
            raised = exc
        self.assertIsNotNone(raised, "the injected crash did not happen")
        self.assertEqual(self.make_store().load(self.key), {"n": 1})
        self.assertEqual(self.store.info(self.key).version, 1)
        self.save({"n": 3})
        self.assertEqual(self.store.load(self.key), {"n": 3})

    def test_corrupt_state_is_an_error_until_reset(self):
        self.save({"n": 1})
        try:
            self.corrupt(self.store, self.key)
        except NotImplementedError:
            self.skipTest("this store's test gives no corrupt()")
        for _ in range(2):  # not reset by reading it
            with self.assertRaises(CorruptStateError) as caught:
                self.make_store().load(self.key)
            self.assertIn(self.key, str(caught.exception))
            self.assertIn(self.store.describe(self.key), str(caught.exception))
        self.assertTrue(self.store.reset(self.key))
        with self.assertRaises(NoState):
            self.store.load(self.key)

    def test_concurrent_saves_lose_no_version_and_never_tear(self):
        errors: list[BaseException] = []
        states = [{"writer": n, "payload": [n] * 2000} for n in range(8)]

        def write(state):
            try:
                for _ in range(5):
                    self.save(state, store=self.make_store())
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=write, args=(state,)) for state in states]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(errors, [])
        self.assertIn(self.store.load(self.key), states)
        self.assertGreaterEqual(self.store.info(self.key).version, 1)


def _types(value: Any) -> Any:
    """The type of every value and key, nested, so ``(1,)`` and ``[1]`` differ."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(_types(k)), repr(_types(v))) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_types(item) for item in value])
    if isinstance(value, set | frozenset):
        return ("set", sorted(repr(_types(item)) for item in value))
    return type(value).__name__

"""The contract every recorder backend passes: mix into a test case per backend.

Shipped with the package so third-party recorders run the same suite as the built-ins::

    class MyRecorderTests(RecorderContractTests, SimpleTestCase):
        def make_collector(self):
            return Collector.get("mine")

        def read_push_items(self, collector):   # what the backend stored, in order
            ...

        def read_file(self, collector, filename):  # bytes, or None when there is none
            ...

Each test runs in a fresh recording run. A backend that stores nothing sets
``stores_data = False``: the checks that read data back are then skipped, the rest (what
is accepted, what is refused) still apply.
"""

from __future__ import annotations

import threading
import unittest
from typing import TYPE_CHECKING, Any

from django.db import connections

from .base import PUSH_ITEMS_FILE
from .collector import Collector
from .validation import STATES, PushItemError

MD5 = "bb1b0d528129f47798006e73307ba7a7"
SHA256 = "4fd23ae44f3366f12f769f82398e96dce72adab8e45dea4d721ddf43fdce31e2"


def full_item(n: int, **changes: Any) -> dict[str, Any]:
    """A push item with every field of the schema filled in."""
    item = {
        "filename": f"pkg-{n}.rpm",
        "state": "PUSHED",
        "src": f"/srv/build/pkg-{n}.rpm",
        "dest": "repo-x86_64",
        "origin": "RHBA-2026:1234",
        "build": f"pkg-1.{n}-1",
        "signing_key": "FD431D51",
        "checksums": {"md5": MD5, "sha256": SHA256},
    }
    item.update(changes)
    return item


if TYPE_CHECKING:  # mixed into a TestCase: its assertions and skipTest are the TestCase's
    _TestCaseBase = unittest.TestCase
else:
    _TestCaseBase = object


class RecorderContractTests(_TestCaseBase):
    """Needs ``unittest.TestCase`` assertions; ``make_collector`` builds the collector."""

    stores_data = True

    def make_collector(self) -> Collector:
        raise NotImplementedError

    def read_push_items(self, collector: Collector) -> list[dict[str, Any]]:
        """What ``collector``'s run holds, in order; the built-ins have a reader method."""
        return collector.backend.read_push_items()

    def read_file(self, collector: Collector, filename: str) -> bytes | None:
        return collector.backend.read_file(filename)

    def setUp(self):
        super().setUp()
        self.run = self.enterContext(Collector.new_run())
        self.collector = self.make_collector()

    def stored_items(self, collector: Collector | None = None) -> list[dict[str, Any]]:
        if not self.stores_data:
            self.skipTest("the backend stores nothing to read back")
        return self.read_push_items(collector or self.collector)

    def stored_file(self, filename: str, collector: Collector | None = None) -> bytes | None:
        if not self.stores_data:
            self.skipTest("the backend stores nothing to read back")
        return self.read_file(collector or self.collector, filename)

    # -- push items --

    def test_recording_returns_done_futures(self):
        futures = [
            self.collector.update_push_items([full_item(0)]),
            self.collector.attach_file("a.txt", b"a"),
            self.collector.append_file("b.txt", b"b"),
        ]
        for future in futures:
            self.assertIsNone(future.result(timeout=30))

    def test_push_items_round_trip(self):
        items = [
            full_item(0, filename="naïve-日本.rpm", note={"kept": ["as", "given", 1.5]}),
            {"filename": "bare", "state": "PENDING"},
            full_item(2, src=None, dest=None, checksums=None, origin=None, build=None),
            full_item(3, checksums={}),
        ]
        self.collector.update_push_items(items).result()
        self.assertEqual(self.stored_items(), items)

    def test_batches_and_generators_append_in_order(self):
        self.collector.update_push_items([full_item(0), full_item(1)]).result()
        self.collector.update_push_items(full_item(n) for n in range(2, 5)).result()
        self.collector.update_push_items([]).result()
        self.assertEqual(
            [item["filename"] for item in self.stored_items()], [f"pkg-{n}.rpm" for n in range(5)]
        )

    def test_an_invalid_item_is_refused_at_the_call_and_nothing_is_written(self):
        self.collector.update_push_items([full_item(0)]).result()
        batch = [full_item(1), full_item(2), full_item(3, state="pushed"), full_item(4)]
        with self.assertRaises(PushItemError) as caught:
            self.collector.update_push_items(iter(batch))
        self.assertEqual((caught.exception.index, caught.exception.field), (2, "state"))
        self.assertIn("push item 2, field 'state'", str(caught.exception))
        with self.assertRaises(PushItemError) as caught:
            self.collector.update_push_items([full_item(5), full_item(6, extra={1, 2})])
        self.assertEqual((caught.exception.index, caught.exception.field), (1, "extra"))
        self.assertIn("not JSON-serialisable", str(caught.exception))
        if self.stores_data:
            self.assertEqual(self.stored_items(), [full_item(0)])

    def test_a_nul_character_anywhere_is_refused_on_every_backend(self):
        # PostgreSQL cannot store NUL in text or jsonb: every backend gives the same answer
        self.collector.update_push_items([full_item(0)]).result()
        bad = {
            "dest": "repo\x00x",
            "note": {"deep": ["ok", "b\x00d"]},
            "key\x00": "value",
        }
        fields = ["dest", "note.deep.1", "key\x00"]
        for field, (key, value) in zip(fields, bad.items(), strict=True):
            with self.subTest(field=field), self.assertRaises(PushItemError) as caught:
                self.collector.update_push_items([full_item(1), full_item(2, **{key: value})])
            self.assertEqual((caught.exception.index, caught.exception.field), (1, field))
            self.assertIn("contains a NUL character", str(caught.exception))
        literal = full_item(3, note="a backslash and u0000: \\u0000")  # not a NUL: kept
        self.collector.update_push_items([literal]).result()
        if self.stores_data:
            self.assertEqual(self.stored_items(), [full_item(0), literal])

    def test_every_state_is_accepted_lower_case_is_not(self):
        self.assertEqual(len(STATES), 18)
        items = [full_item(n, state=state) for n, state in enumerate(STATES)]
        self.collector.update_push_items(items).result()
        for state in STATES:
            with self.assertRaises(PushItemError):
                self.collector.update_push_items([full_item(0, state=state.lower())])
        if self.stores_data:
            self.assertEqual([item["state"] for item in self.stored_items()], list(STATES))

    def test_checksum_rules(self):
        good = [{"md5": MD5}, {"sha256": SHA256}, {"md5": MD5, "sha256": SHA256}, {}, None]
        self.collector.update_push_items(full_item(0, checksums=c) for c in good).result()
        bad = {
            "checksums.md5": [{"md5": MD5.upper()}, {"md5": MD5[:-1]}, {"md5": MD5 + "\n"}],
            "checksums.sha256": [{"sha256": SHA256 + "0"}, {"sha256": None}],
            "checksums.sha1": [{"md5": MD5, "sha1": MD5[:40]}],
            "checksums": [[MD5], MD5],
        }
        for field, values in bad.items():
            for value in values:
                with self.assertRaises(PushItemError, msg=value) as caught:
                    self.collector.update_push_items([full_item(0, checksums=value)])
                self.assertEqual(caught.exception.field, field, value)
        if self.stores_data:
            self.assertEqual([item["checksums"] for item in self.stored_items()], good)

    def test_concurrent_writers_keep_every_batch_whole(self):
        threads, batches, size = 4, 5, 40
        errors: list[BaseException] = []

        def write(tag: int) -> None:
            try:
                collector = self.make_collector()
                for b in range(batches):
                    items = [full_item(n, writer=tag, batch=b) for n in range(size)]
                    collector.update_push_items(items).result()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()  # this thread's connections, if the backend used any

        workers = [threading.Thread(target=write, args=(tag,)) for tag in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.assertEqual(errors, [])
        if not self.stores_data:
            return
        stored = self.stored_items()
        self.assertEqual(len(stored), threads * batches * size)
        for start in range(0, len(stored), size):  # every batch contiguous and in order
            chunk = stored[start : start + size]
            self.assertEqual(len({(i["writer"], i["batch"]) for i in chunk}), 1)
            self.assertEqual(
                [i["filename"] for i in chunk], [full_item(n)["filename"] for n in range(size)]
            )

    # -- files --

    def test_attach_replaces_and_append_extends(self):
        self.collector.attach_file("report.txt", b"first").result()
        self.collector.attach_file("report.txt", "second é").result()
        self.collector.append_file("report.txt", b"\nthird").result()
        self.collector.append_file("new.log", b"one").result()
        self.collector.append_file("new.log", bytearray(b" two")).result()
        self.assertEqual(self.stored_file("report.txt"), "second é\nthird".encode())
        self.assertEqual(self.stored_file("new.log"), b"one two")
        self.assertIsNone(self.stored_file("absent.txt"))

    def test_binary_content_and_sub_folders(self):
        blob = bytes(range(256)) * 64
        self.collector.attach_file("bin/data/blob.bin", blob).result()
        self.collector.append_file("./bin//tail.bin", memoryview(b"\x00\xff")).result()
        self.assertEqual(self.stored_file("bin/data/blob.bin"), blob)
        self.assertEqual(self.stored_file("bin/tail.bin"), b"\x00\xff")

    def test_file_names_leaving_the_run_are_refused_at_the_call(self):
        refused = ["../x", "a/../../x", "/etc/passwd", "", "a\\..\\x", "dir/", PUSH_ITEMS_FILE]
        for name in refused:
            for method in (self.collector.attach_file, self.collector.append_file):
                with self.assertRaises(ValueError, msg=name) as caught:
                    method(name, b"x")
                self.assertIn(repr(name), str(caught.exception))
        with self.assertRaises(TypeError):
            self.collector.attach_file("a.txt", 42)
        with self.assertRaises(TypeError):
            self.collector.append_file(None, b"x")
        if self.stores_data:
            self.assertEqual(self.stored_items(), [])

    # -- runs --

    def test_collectors_of_one_run_share_it_and_a_new_run_starts_afresh(self):
        other = self.make_collector()
        self.collector.update_push_items([full_item(0)]).result()
        other.update_push_items([full_item(1)]).result()
        other.attach_file("shared.txt", b"x").result()
        with Collector.new_run():
            fresh = self.make_collector()
            fresh.update_push_items([full_item(2)]).result()
            self.assertEqual(self.stored_items(fresh), [full_item(2)])
            self.assertIsNone(self.stored_file("shared.txt", fresh))
        self.assertEqual(Collector.current_run(), self.run)
        self.assertEqual(self.stored_items(), [full_item(0), full_item(1)])
        self.assertEqual(self.stored_file("shared.txt"), b"x")

    def test_context_manager(self):
        with self.make_collector() as collector:
            self.assertIsInstance(collector, Collector)
            collector.update_push_items([full_item(0)]).result()
        self.assertEqual(self.stored_items(), [full_item(0)])

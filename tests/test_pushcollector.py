"""collector_app.pushcollector: the backend registry, futures, push-item validation, runs,
and the recorder contract run against every built-in backend.

The ``local`` and ``db`` specifics live in ``tests/test_pushcollector_local.py`` and
``tests/test_pushcollector_db.py``.
"""

from __future__ import annotations

import pickle
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace

import jsonschema
import pytest
from django.test import SimpleTestCase, TransactionTestCase, override_settings

from collector_app.pushcollector import (
    SCHEMA,
    STATES,
    Collector,
    PushItemError,
    check_item,
    registry,
)
from collector_app.pushcollector import batch as batch_module
from collector_app.pushcollector.contract import MD5, SHA256, RecorderContractTests, full_item
from collector_app.pushcollector.db import DatabaseCollector
from collector_app.pushcollector.dummy import DummyCollector
from collector_app.pushcollector.local import LocalCollector
from collector_app.pushcollector.validation import fast_check, prepare_push_items, schema_error
from triggers import plugins

# -- the contract, for each built-in backend --


class LocalRecorderContract(RecorderContractTests, SimpleTestCase):
    @pytest.fixture(autouse=True)
    def _artifacts_root(self, tmp_path):
        self.root = tmp_path

    def setUp(self):
        self.enterContext(override_settings(COLLECTORS={"ARTIFACTS_ROOT": self.root}))
        super().setUp()

    def make_collector(self):
        return Collector.get("local")


class DummyRecorderContract(RecorderContractTests, SimpleTestCase):
    stores_data = False

    def make_collector(self):
        return Collector.get("dummy")


class DatabaseRecorderContract(RecorderContractTests, TransactionTestCase):
    databases = {"default"}  # threads of the concurrency test need committed rows

    def make_collector(self):
        return Collector.get("db")


# -- the registry --


class ListRecorder:
    """A backend written for pushcollector: plain methods, a list of dicts per call."""

    def __init__(self):
        self.batches, self.files = [], {}

    def update_push_items(self, items):
        self.batches.append(items)

    def attach_file(self, filename, content):
        self.files[filename] = content

    def append_file(self, filename, content):
        self.files[filename] = self.files.get(filename, b"") + content


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_default", None)
    with override_settings(COLLECTORS={"RECORDER": "dummy"}):
        yield


def test_the_default_backend_is_the_setting(tmp_path, clean_registry):
    assert Collector.default_backend() == "dummy"
    assert isinstance(Collector.get().backend, DummyCollector)
    with override_settings(COLLECTORS={"ARTIFACTS_ROOT": tmp_path}):
        assert Collector.default_backend() == "local"
        assert isinstance(Collector.get().backend, LocalCollector)
    dotted = "tests.test_pushcollector.ListRecorder"
    with override_settings(COLLECTORS={"RECORDER": dotted}):
        assert isinstance(Collector.get().backend, ListRecorder)


def test_built_in_and_entry_point_backends_need_no_registration(clean_registry, monkeypatch):
    assert isinstance(Collector.get("dummy").backend, DummyCollector)
    assert isinstance(Collector.get("db").backend, DatabaseCollector)
    installed = registry._entry_points()
    for name, path in registry.BUILTIN_BACKENDS.items():
        assert installed[name].value.replace(":", ".") == path  # pyproject agrees
    plugin = SimpleNamespace(load=lambda: ListRecorder)
    broken = SimpleNamespace(load=lambda: 1 / 0)
    found = plugins.entry_point_names  # the one lookup every plugin kind goes through
    monkeypatch.setattr(
        plugins,
        "entry_point_names",
        lambda group: (
            {"third": plugin, "bad": broken}
            if group == registry.ENTRY_POINT_GROUP
            else found(group)
        ),
    )
    assert isinstance(Collector.get("third").backend, ListRecorder)
    assert "third" in registry.known_backends()
    with pytest.raises(ValueError, match="'bad' \\(its entry point failed to load"):
        Collector.get("bad")


def test_register_and_make_default(clean_registry):
    recorder = ListRecorder()
    Collector.register_backend("mine", lambda: recorder)
    assert Collector.get("mine").backend is recorder
    Collector.set_default_backend("mine")
    assert Collector.default_backend() == "mine"
    assert Collector.get().backend is recorder
    Collector.set_default_backend(None)
    assert Collector.default_backend() == "dummy"


def test_unregistering(clean_registry):
    Collector.register_backend("mine", ListRecorder)
    Collector.register_backend("mine", None)
    with pytest.raises(ValueError, match="no recorder backend named 'mine'"):
        Collector.get("mine")
    Collector.register_backend("never-registered", None)  # nothing to do, no error


def test_unregistering_the_default_resets_it(clean_registry):
    Collector.register_backend("mine", ListRecorder)
    Collector.set_default_backend("mine")
    Collector.register_backend("mine", None)
    assert Collector.default_backend() == "dummy"
    assert isinstance(Collector.get().backend, DummyCollector)


def test_registering_overrides_a_built_in_name_until_unregistered(clean_registry):
    Collector.register_backend("dummy", ListRecorder)
    assert isinstance(Collector.get("dummy").backend, ListRecorder)
    Collector.register_backend("dummy", None)
    assert isinstance(Collector.get("dummy").backend, DummyCollector)


def test_an_unknown_name_is_a_value_error_naming_it(clean_registry):
    with pytest.raises(ValueError, match=r"'nope'.*known backends: db, dummy, local"):
        Collector.get("nope")
    with pytest.raises(ValueError, match="'nope'"):
        Collector.set_default_backend("nope")
    assert Collector.default_backend() == "dummy"
    with override_settings(COLLECTORS={"RECORDER": "typo"}):
        with pytest.raises(ValueError, match="'typo'"):
            Collector.get()


def test_a_factory_must_be_callable_or_none(clean_registry):
    with pytest.raises(TypeError, match="callable or None, got 'local'"):
        Collector.register_backend("mine", "local")
    with pytest.raises(TypeError, match="non-empty str"):
        Collector.register_backend("", ListRecorder)


def test_a_backend_may_implement_some_methods_the_others_raise_not_implemented(clean_registry):
    written = []
    Collector.register_backend("half", lambda: SimpleNamespace(attach_file=written.append))
    collector = Collector.get("half")  # accepted, as pushcollector accepts it
    with pytest.raises(NotImplementedError, match=r"'half' does not implement update_push_items"):
        collector.update_push_items([{"filename": "a", "state": "PUSHED"}])
    with pytest.raises(NotImplementedError, match=r"'half' does not implement append_file"):
        collector.append_file("a.txt", b"x")
    assert written == []


def test_a_pushcollector_style_backend_gets_validated_lists(clean_registry):
    recorder = ListRecorder()
    Collector.register_backend("list", lambda: recorder)
    collector = Collector.get("list")
    items = [full_item(0), {"filename": "b", "state": "EXISTS", "extra": (1, 2)}]
    assert collector.update_push_items(iter(items)).result() is None
    as_json = {"filename": "b", "state": "EXISTS", "extra": [1, 2]}  # the backend gets JSON
    assert recorder.batches == [[full_item(0), as_json]]
    with pytest.raises(jsonschema.ValidationError):  # what pushcollector's callers catch
        collector.update_push_items([{"foo": "bar"}])
    collector.attach_file("a.txt", "é").result()
    collector.append_file("a.txt", b"!").result()
    assert recorder.batches == [recorder.batches[0]] and recorder.files == {"a.txt": "é!".encode()}


# -- futures --


class ValueRecorder(ListRecorder):
    def __init__(self, outcome):
        super().__init__()
        self.outcome = outcome

    def update_push_items(self, items):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_futures_carry_the_backends_value(clean_registry):
    Collector.register_backend("value", lambda: ValueRecorder(42))
    future = Collector.get("value").update_push_items([full_item(0)])
    assert isinstance(future, Future) and future.done() and future.result() == 42


def test_a_failed_future_keeps_the_original_exception(clean_registry):
    error = ConnectionError("remote store down")
    Collector.register_backend("failing", lambda: ValueRecorder(error))
    future = Collector.get("failing").update_push_items([full_item(0)])
    assert future.exception() is error
    frames, tb = [], error.__traceback__
    while tb:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "update_push_items"  # raised in the backend, traceback kept
    with pytest.raises(ConnectionError, match="remote store down"):
        future.result()


def test_returned_futures_are_passed_on_and_awaited_when_the_block_ends(clean_registry):
    pool = ThreadPoolExecutor(2)
    release = threading.Event()

    def slow(items):
        release.wait(5)
        time.sleep(0.05)
        return len(items)

    Collector.register_backend("async", lambda: ValueRecorder(None))
    with Collector.get("async") as collector:
        collector.backend.update_push_items = lambda items: pool.submit(slow, items)
        future = collector.update_push_items([full_item(0), full_item(1)])
        assert not future.done()
        release.set()
    assert future.done() and future.result() == 2
    pool.shutdown()


# -- validation --


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"state": "PUSHED"}, "filename"),
        ({"filename": "a"}, "state"),
        ({"filename": 3, "state": "PUSHED"}, "filename"),
        ({"filename": "a", "state": "Pushed"}, "state"),
        ({"filename": "a", "state": "PUSHED", "src": 1}, "src"),
        ({"filename": "a", "state": "PUSHED", "signing_key": ["k"]}, "signing_key"),
        ({"filename": "a", "state": "PUSHED", "checksums": {"md5": "0" * 31}}, "checksums.md5"),
        (["filename", "state"], None),
    ],
)
def test_errors_name_the_index_and_the_field(item, field):
    with pytest.raises(PushItemError) as caught:
        prepare_push_items([full_item(0), full_item(1), full_item(2), item])
    error = caught.value
    assert (error.index, error.field) == (3, field)
    assert str(error).startswith("push item 3" + (f", field {field!r}: " if field else ": "))


def test_the_error_is_a_jsonschema_and_a_value_error_and_pickles():
    with pytest.raises(PushItemError) as caught:
        check_item(7, {"filename": "a", "state": "pushed"})
    error = caught.value
    assert isinstance(error, jsonschema.ValidationError) and isinstance(error, ValueError)
    assert list(error.path) == [7, "state"]
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.index, copy.field, str(copy)) == (7, "state", str(error))


def test_extra_keys_and_nulls_are_allowed():
    check_item(0, {"filename": "a", "state": "SKIPPED", "anything": {"goes": [1]}})
    check_item(0, full_item(0, src=None, dest=None, origin=None, build=None, checksums=None))
    check_item(0, full_item(0, signing_key=None, filename=""))


class StrSub(str):
    pass


class DictSub(dict):
    pass


VALUES = [
    "x", "", None, 0, 1.5, True, [], {}, ["a"], MD5, MD5.upper(), SHA256, MD5 + "\n",
    "PUSHED", "pushed", "DOCKERTAGMISMATCH", StrSub("EXISTS"), StrSub(MD5), {"md5": MD5},
    {"sha256": SHA256, "md5": MD5}, {"sha1": "x"}, {"md5": StrSub(MD5)}, {"md5": None},
    DictSub(md5=MD5), {"md5": MD5, 1: 2},
]  # fmt: skip
KEYS = ["filename", "state", "src", "dest", "origin", "build", "signing_key", "checksums", "x"]


def mutations(seed: int = 1234, random_items: int = 600):
    """Every key set to every value or removed, then random combinations of those."""
    for key in KEYS:
        for value in VALUES:
            yield full_item(0, **{key: value})
        item = full_item(0)
        item.pop(key, None)
        yield item
    rng = random.Random(seed)
    for _ in range(random_items):
        item = full_item(0)
        for key in rng.sample(KEYS, rng.randint(1, 3)):
            if rng.random() < 0.2:
                item.pop(key, None)
            else:
                item[key] = rng.choice(VALUES)
        yield item
    yield from ([], "PUSHED", None, 3, DictSub(full_item(0)), {})


def test_the_fast_path_agrees_with_the_schema():
    validator = jsonschema.Draft202012Validator(SCHEMA)
    counts = {"fast": 0, "schema only": 0, "invalid": 0}
    for item in mutations():
        valid = validator.is_valid(item)
        fast = fast_check(item)
        assert valid or not fast, item  # the fast path never accepts a bad item
        assert (schema_error(0, item) is None) == valid, item
        counts["fast" if fast else "schema only" if valid else "invalid"] += 1
    assert counts["invalid"] > 300 and counts["fast"] > 100 and counts["schema only"] > 0


def test_common_items_take_the_fast_path():
    for state in STATES:
        assert fast_check(full_item(0, state=state))
    assert fast_check({"filename": "a", "state": "PUSHED", "extra": object()})
    assert not fast_check({"filename": StrSub("a"), "state": "PUSHED"})  # left to the schema
    check_item(0, {"filename": StrSub("a"), "state": "PUSHED"})  # ...which accepts it


def test_a_batch_must_be_an_iterable_of_items():
    with pytest.raises(TypeError, match="single mapping"):
        prepare_push_items(full_item(0))
    for wrong in ("PUSHED", b"x", 5, None):
        with pytest.raises(TypeError, match="iterable of push items"):
            prepare_push_items(wrong)


def test_large_batches_spill_to_disk(monkeypatch):
    monkeypatch.setattr(batch_module, "SPOOL_MAX_BYTES", 4096)
    items = [full_item(n) for n in range(500)]
    with prepare_push_items(iter(items)) as batch:
        assert batch.on_disk and len(batch) == 500 and batch.size > 4096
        assert list(batch.items()) == items
        assert b"".join(batch.chunks(1000)) == b"".join(batch.lines())
    with prepare_push_items(items[:3]) as small:
        assert not small.on_disk


# -- runs --


def test_runs_scope_and_unwind():
    outer = Collector.new_run()
    with Collector.new_run() as inner:
        assert Collector.current_run() == inner != outer
        with Collector.new_run(inner.id) as joined:
            assert joined.id == inner.id
        assert Collector.current_run() == inner
    assert Collector.current_run() == outer
    for _ in range(3):
        latest = Collector.new_run()
    assert latest._previous._previous is None  # old runs are not kept alive
    assert len(outer.id) == len("20261123130405-9f2c1a") and outer.id[:14].isdigit()


@pytest.mark.django_db(transaction=True)
def test_the_db_recorder_keeps_debug_query_logs_short(settings):
    """With DEBUG on, Django keeps the last 9,000 queries' text: a recorder's bulk inserts and
    file contents would make memory grow with the batch."""
    from django.db import connection, reset_queries

    settings.DEBUG = True
    reset_queries()
    items = [{"filename": f"pkg-{n}.rpm", "state": "PUSHED", "src": "x" * 200} for n in range(3000)]
    with Collector.new_run():
        recorder = Collector.get("db")
        recorder.update_push_items(items).result()
        recorder.attach_file("big.bin", b"y" * 200_000).result()
        recorder.append_file("big.bin", b"z" * 200_000).result()
        assert len(recorder.backend.read_push_items()) == 3000
        assert recorder.backend.read_file("big.bin") == b"y" * 200_000 + b"z" * 200_000
    assert connection.queries, "the queries were logged"
    longest = max(len(query["sql"]) for query in connection.queries)
    assert longest < 1000, f"a logged query of {longest:,} characters"

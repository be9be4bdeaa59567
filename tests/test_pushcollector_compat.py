"""Code written for pushcollector, tested the way pushcollector's own tests are written.

Only what docs/migrating.md (the pushcollector section) tells a migrating user to change is
changed: the import, and, in a Django project, ``COLLECTORS["ARTIFACTS_ROOT"]`` in place of
``./artifacts`` (the ``artifacts_in_cwd`` fixture). A plain script with no Django settings
module writes to ``./artifacts`` itself (``test_plain_script_writes_under_artifacts``).
"""

import json
import logging
import os
import subprocess
import sys
import textwrap
from unittest.mock import MagicMock

import jsonschema
import pytest
from django.test import override_settings

from collector_app.pushcollector import Collector
from collector_app.pushcollector import runs as runs_module
from collector_app.pushcollector.local import LocalCollector


@pytest.fixture(autouse=True)
def reset_backend(monkeypatch):
    """Resets the default backend both before and after each test, clears my-collector,
    and starts each test outside any recording run."""
    monkeypatch.setattr(runs_module, "_current", None)
    Collector.set_default_backend(None)
    yield
    Collector.set_default_backend(None)
    Collector.register_backend("my-collector", None)
    Collector.register_backend("test", None)
    Collector.register_backend("counter", None)


@pytest.fixture
def artifacts_in_cwd(tmpdir, monkeypatch):
    """What pushcollector did implicitly: run folders under ./artifacts."""
    monkeypatch.chdir(tmpdir)
    with override_settings(COLLECTORS={"ARTIFACTS_ROOT": str(tmpdir.join("artifacts"))}):
        yield tmpdir


# -- the registry (pushcollector's tests/collector) --


def test_get_default():
    """Can get a default collector."""
    collector = Collector.get()
    assert collector


def test_get_by_backend_keyword():
    """The argument of get() is named 'backend', as in pushcollector."""
    collector = Collector.get(backend="dummy")
    assert collector.update_push_items([{"filename": "f", "state": "PUSHED"}]).result() is None


def test_set_default():
    """Can set and use a default collector."""

    class MyCollector:
        INSTANCES = []

        def __init__(self):
            MyCollector.INSTANCES.append(self)
            self.pushed = []

        def update_push_items(self, items):
            self.pushed.extend(items)

    Collector.register_backend("my-collector", MyCollector)
    Collector.set_default_backend("my-collector")

    items = [
        {"filename": "file1", "state": "PENDING"},
        {"filename": "file2", "state": "PENDING"},
    ]

    Collector.get().update_push_items(items).result()

    assert len(MyCollector.INSTANCES) == 1
    assert MyCollector.INSTANCES[0].pushed == items


def test_register_backend_wrong_type():
    """register_backend raises TypeError if passed an instance instead of a factory."""
    with pytest.raises(TypeError):
        Collector.register_backend("my-collector", Collector())


def test_get_missing():
    """Can't get a collector using an unregistered backend."""
    with pytest.raises(ValueError) as excinfo:
        Collector.get("not-registered")
    assert "'not-registered'" in str(excinfo.value)


def test_unregister_resets_default():
    """Unregistering a backend unsets it as the default backend (if it was set)."""

    class CountingCollector:
        CONSTRUCTED_COUNT = 0

        def __init__(self):
            CountingCollector.CONSTRUCTED_COUNT += 1

    Collector.register_backend("counter", CountingCollector)
    Collector.set_default_backend("counter")

    Collector.get()
    assert CountingCollector.CONSTRUCTED_COUNT == 1
    Collector.get()
    assert CountingCollector.CONSTRUCTED_COUNT == 2

    Collector.register_backend("counter", None)

    assert Collector.get()
    assert CountingCollector.CONSTRUCTED_COUNT == 2


def test_context_manager_backend():
    """A backend's context manager methods are called once each."""
    collector = MagicMock(spec=Collector)
    Collector.register_backend("my-collector", lambda: collector)
    Collector.set_default_backend("my-collector")

    with Collector.get():
        pass

    collector.__enter__.assert_called_once()
    collector.__exit__.assert_called_once_with(None, None, None)


def test_unimplemented():
    """The Collector base class raises NotImplementedError for all the public API."""
    collector = Collector()

    with pytest.raises(NotImplementedError):
        collector.update_push_items([])
    with pytest.raises(NotImplementedError):
        collector.attach_file("somefile.txt", "foobar")
    with pytest.raises(NotImplementedError):
        collector.append_file("somefile.txt", "foobar")


def test_base_class_context_manager():
    """The base class can be entered and left."""
    collector = Collector()
    Collector.register_backend("my-collector", lambda: collector)
    Collector.set_default_backend("my-collector")

    with Collector.get():
        pass


def test_subclass_implementing_some_methods():
    """A backend subclassing Collector may leave methods out: those raise when called."""

    class PushItemsOnly(Collector):
        def __init__(self):
            self.pushed = []

        def update_push_items(self, items):
            self.pushed.extend(items)

    backend = PushItemsOnly()
    Collector.register_backend("my-collector", lambda: backend)

    collector = Collector.get("my-collector")
    collector.update_push_items([{"filename": "file1", "state": "PUSHED"}]).result()
    assert backend.pushed == [{"filename": "file1", "state": "PUSHED"}]

    with pytest.raises(NotImplementedError):
        collector.attach_file("somefile.txt", "foobar")
    with pytest.raises(NotImplementedError):
        collector.append_file("somefile.txt", "foobar")


# -- arguments and returns (pushcollector's tests/proxy) --


class RecordingCollector:
    def __init__(self):
        self.calls = []

    def update_push_items(self, items):
        self.calls.append(("update_push_items", items))

    def attach_file(self, filename, content):
        self.calls.append(("attach_file", filename, content))

    def append_file(self, filename, content):
        self.calls.append(("append_file", filename, content))


def test_str_content_is_encoded_as_utf8():
    """Text content reaches the backend as UTF-8 bytes."""
    backend = RecordingCollector()
    Collector.register_backend("test", lambda: backend)
    collector = Collector.get("test")

    collector.attach_file("a.txt", "zażółć").result()
    collector.append_file("b.txt", b"\x00\x01").result()

    assert backend.calls == [
        ("attach_file", "a.txt", "zażółć".encode()),
        ("append_file", "b.txt", b"\x00\x01"),
    ]


def test_invalid_push_item_raises_validation_error():
    """An item not matching the schema raises jsonschema's ValidationError at the call."""
    backend = RecordingCollector()
    Collector.register_backend("test", lambda: backend)
    collector = Collector.get("test")

    with pytest.raises(jsonschema.ValidationError):
        collector.update_push_items([{"filename": "file1", "state": "not-a-state"}])
    with pytest.raises(jsonschema.ValidationError):
        collector.update_push_items([{"state": "PUSHED"}])

    assert backend.calls == []


def test_always_returns_future():
    """Futures whatever the backend returns; a failed one carries the backend's error."""
    error = RuntimeError("oops")

    class FailingCollector(RecordingCollector):
        def attach_file(self, filename, content):
            raise error

    Collector.register_backend("test", FailingCollector)
    collector = Collector.get("test")

    assert collector.update_push_items([]).result() is None
    assert collector.append_file("somefile", "").result() is None
    assert collector.attach_file("somefile", "").exception() is error


# -- the local backend (pushcollector's tests/local) --


def test_local_saves_to_artifacts(caplog, artifacts_in_cwd):
    """The local collector writes under 'artifacts' and logs each file it creates."""
    tmpdir = artifacts_in_cwd
    caplog.set_level(logging.INFO)

    collector = Collector.get("local")

    collector.update_push_items(
        [
            {"filename": "file1", "state": "PUSHED"},
            {"filename": "somedir/file2", "state": "INVALIDFILE"},
        ]
    ).result()
    collector.update_push_items([{"filename": "file3", "state": "MISSING"}]).result()

    collector.attach_file("some-file.txt", "Hello, world\n").result()
    collector.attach_file("some-file.txt", "Hello again\n").result()
    collector.attach_file("some-file.bin", b"\x00\x01\x02").result()
    collector.append_file("appended-file.txt", "chunk 1").result()
    collector.append_file("appended-file.txt", b"\nchunk 2\n").result()

    artifactsdir = tmpdir.join("artifacts", "latest")
    assert artifactsdir.check(dir=True, link=True)
    artifactsdir = artifactsdir.realpath()

    assert (
        artifactsdir.join("pushitems.jsonl").read()
        == textwrap.dedent(
            """
            {"filename": "file1", "state": "PUSHED"}
            {"filename": "somedir/file2", "state": "INVALIDFILE"}
            {"filename": "file3", "state": "MISSING"}
            """
        ).lstrip()
    )
    assert artifactsdir.join("some-file.txt").read() == "Hello again\n"
    assert artifactsdir.join("some-file.bin").read_binary() == b"\x00\x01\x02"
    assert artifactsdir.join("appended-file.txt").read() == "chunk 1\nchunk 2\n"

    assert caplog.messages == [
        f"Logging to {artifactsdir.join('pushitems.jsonl')}",
        f"Logging to {artifactsdir.join('some-file.txt')}",
        f"Logging to {artifactsdir.join('some-file.bin')}",
        f"Logging to {artifactsdir.join('appended-file.txt')}",
    ]


def test_local_dir_sequence(artifacts_in_cwd, monkeypatch):
    """One timestamped directory per get(), with 'latest' pointing at the newest."""
    tmpdir = artifacts_in_cwd

    monkeypatch.setattr(LocalCollector, "timestamp", lambda cls: "time1")
    Collector.get("local").update_push_items([{"filename": "file1", "state": "PUSHED"}]).result()

    monkeypatch.setattr(LocalCollector, "timestamp", lambda cls: "time2")
    Collector.get("local").update_push_items([{"filename": "file1", "state": "PUSHED"}]).result()

    monkeypatch.setattr(LocalCollector, "timestamp", lambda cls: "time3")
    Collector.get("local").update_push_items([{"filename": "file1", "state": "PUSHED"}]).result()

    artifactsdir = tmpdir.join("artifacts")
    assert artifactsdir.join("time1").check(dir=True)
    assert artifactsdir.join("time2").check(dir=True)
    assert artifactsdir.join("time3").check(dir=True)
    assert artifactsdir.join("latest").check(dir=True, link=True)
    assert artifactsdir.join("latest").readlink() == "time3"


def test_local_default_folders_differ_per_get(artifacts_in_cwd):
    """Without a patched timestamp, two get() calls in one second still get two folders."""
    first = Collector.get("local")
    second = Collector.get("local")
    first.attach_file("a.txt", "1").result()
    second.attach_file("a.txt", "2").result()

    folders = sorted(p.basename for p in artifacts_in_cwd.join("artifacts").listdir())
    assert len(folders) == 3 and "latest" in folders


def test_plain_script_writes_under_artifacts(tmp_path):
    """A script with no Django settings module writes to ./artifacts, as pushcollector did."""
    script = textwrap.dedent(
        """
        import logging
        from collector_app.pushcollector import Collector

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        with Collector.get() as collector:
            collector.update_push_items([{"filename": "file1", "state": "PUSHED"}]).result()
            collector.attach_file("notes.txt", "written\\n").result()
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    latest = tmp_path / "artifacts" / "latest"
    assert latest.is_symlink()
    assert json.loads((latest / "pushitems.jsonl").read_text()) == {
        "filename": "file1",
        "state": "PUSHED",
    }
    assert (latest / "notes.txt").read_text() == "written\n"
    assert f"Logging to {latest.resolve() / 'notes.txt'}" in done.stderr

"""The ``local`` recorder beyond the contract: layout, ``latest``, JSONL format, safety and
concurrency (threads and processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from collector_app.pushcollector import Collector, check_item
from collector_app.pushcollector import batch as batch_module
from collector_app.pushcollector import local as local_module
from collector_app.pushcollector.contract import full_item
from collector_app.pushcollector.local import LocalCollector
from tests.support.helpers import subprocess_env

PROJECT = Path(__file__).resolve().parent.parent
#: Writes of a batch in the concurrency tests: small, so every batch takes many writes, cut
#: in the middle of lines; without the locks, writers would interleave.
CHUNK_BYTES = 1000


def log_lines(root: Path, run_id: str) -> list[bytes]:
    return (root / run_id / "pushitems.jsonl").read_bytes().splitlines(keepends=True)


def assert_whole_batches(lines: list[bytes], batch: int, writers: int, per_writer: int) -> None:
    """Every line a valid item; every writer's items all there; each batch contiguous."""
    items = [json.loads(line) for line in lines]
    for index, item in enumerate(items):
        check_item(index, item)
    assert len(items) == writers * per_writer
    seen = {(str(item["writer"]), item["filename"]) for item in items}
    assert len(seen) == writers * per_writer
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        assert len({(str(i["writer"]), i["batch"]) for i in chunk}) == 1, start
        first = int(chunk[0]["filename"].split("-")[1].split(".")[0])
        assert [i["filename"] for i in chunk] == [f"pkg-{first + n}.rpm" for n in range(batch)]


class TestLocalRecorder:
    @pytest.fixture
    def root(self, tmp_path):
        """The artifacts root (not created yet) in the settings, and a fresh run."""
        root = tmp_path / "artifacts"
        with override_settings(COLLECTORS={"RECORDER": "local", "ARTIFACTS_ROOT": root}):
            with Collector.new_run():
                yield root

    def test_layout_and_latest_link(self, root):
        collector = Collector.get()
        assert isinstance(collector.backend, LocalCollector)
        assert not root.exists()  # nothing is created before something is recorded
        collector.update_push_items([full_item(0)]).result()
        collector.attach_file("logs/task.log", b"done\n").result()
        run = Collector.current_run()
        assert sorted(p.name for p in root.iterdir()) == sorted([run.id, "latest"])
        assert os.readlink(root / "latest") == run.id  # relative: the root can move
        assert (root / "latest" / "logs" / "task.log").read_bytes() == b"done\n"
        assert sorted(p.name for p in (root / run.id).iterdir()) == ["logs", "pushitems.jsonl"]

    def test_jsonl_lines_have_sorted_keys_and_unicode_as_is(self, root):
        items = [full_item(0, filename="café-日本.rpm", zeta=1, alpha={"b": 2, "a": None})]
        items.append({"state": "EXISTS", "filename": "b"})
        Collector.get().update_push_items(items).result()
        lines = log_lines(root, Collector.current_run().id)
        assert lines == [
            (json.dumps(item, sort_keys=True, ensure_ascii=False) + "\n").encode() for item in items
        ]
        assert "café-日本".encode() in lines[0] and b"\\u" not in lines[0]
        assert lines[1] == b'{"filename": "b", "state": "EXISTS"}\n'

    def test_the_root_comes_from_settings_not_the_working_directory(self, root, tmp_path):
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        cwd = os.getcwd()
        os.chdir(elsewhere)
        try:
            Collector.get().update_push_items([full_item(0)]).result()
        finally:
            os.chdir(cwd)
        assert list(elsewhere.iterdir()) == []
        assert (root / "latest" / "pushitems.jsonl").exists()

    def test_a_missing_or_relative_root_is_a_clear_error(self, tmp_path):
        with override_settings(COLLECTORS={}), pytest.raises(ImproperlyConfigured) as caught:
            Collector.get("local")
        assert "COLLECTORS['ARTIFACTS_ROOT']" in str(caught.value)
        with override_settings(COLLECTORS={"ARTIFACTS_ROOT": "artifacts"}):
            with pytest.raises(ImproperlyConfigured, match="absolute path, got 'artifacts'"):
                Collector.get("local")

    def test_latest_is_repaired_when_dangling_or_missing(self, root):
        Collector.get().update_push_items([full_item(0)]).result()
        run_id = Collector.current_run().id
        link = root / "latest"
        link.unlink()
        link.symlink_to("20000101000000-gone")  # dangling
        Collector.get().append_file("a.log", b"1").result()
        assert os.readlink(link) == run_id
        link.unlink()  # missing
        Collector.get().append_file("a.log", b"2").result()
        assert os.readlink(link) == run_id
        assert not [p for p in root.iterdir() if p.name.startswith(".latest")]

    def test_a_new_run_moves_latest_and_an_older_run_leaves_it(self, root):
        first = Collector.get()
        first.update_push_items([full_item(0)]).result()
        with Collector.new_run() as second:
            Collector.get().update_push_items([full_item(1)]).result()
            assert os.readlink(root / "latest") == second.id
        first.update_push_items([full_item(2)]).result()  # the older run, still valid
        assert os.readlink(root / "latest") == second.id
        assert len(log_lines(root, first.backend.run.id)) == 2
        assert len(log_lines(root, second.id)) == 1

    def test_joining_a_run_by_id(self, root):
        run = Collector.current_run()
        Collector.get().update_push_items([full_item(0)]).result()
        with Collector.new_run(run.id):
            Collector.get().update_push_items([full_item(1)]).result()
        assert len(log_lines(root, run.id)) == 2
        for bad in ("../x", "latest", "", ".hidden", "a/b", "x" * 101):
            with pytest.raises(ValueError, match="run id"):
                Collector.new_run(bad)

    def test_links_inside_the_run_do_not_lead_out(self, root, tmp_path):
        collector = Collector.get()
        collector.attach_file("a.txt", b"a").result()
        folder = root / Collector.current_run().id
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "target.txt").write_bytes(b"keep")
        (folder / "escape").symlink_to(outside)
        (folder / "link.txt").symlink_to(outside / "target.txt")
        error = collector.attach_file("escape/x.txt", b"x").exception()
        assert isinstance(error, ValueError) and "outside the run folder" in str(error)
        assert isinstance(collector.append_file("link.txt", b"x").exception(), OSError)
        assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
        assert (outside / "target.txt").read_bytes() == b"keep"

    def test_a_line_cut_short_by_a_crash_does_not_swallow_the_next_batch(self, root):
        collector = Collector.get()
        collector.update_push_items([full_item(0)]).result()
        run_id = Collector.current_run().id
        with open(root / run_id / "pushitems.jsonl", "ab") as log:
            log.write(b'{"filename": "cut sh')
        collector.update_push_items([full_item(1)]).result()
        lines = log_lines(root, run_id)
        assert len(lines) == 3 and lines[1] == b'{"filename": "cut sh\n'
        assert json.loads(lines[2]) == full_item(1)

    def test_a_failed_append_leaves_the_log_as_it_was(self, root, monkeypatch):
        collector = Collector.get()
        collector.update_push_items([full_item(0)]).result()
        path = root / Collector.current_run().id / "pushitems.jsonl"
        before = path.read_bytes()
        real_write = local_module._write_all

        def half_then_fail(fd, data):
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(local_module, "_write_all", half_then_fail)
        error = collector.update_push_items([full_item(1), full_item(2)]).exception()
        assert isinstance(error, OSError) and error.errno == 28
        assert path.read_bytes() == before

    def test_a_generator_failing_midway_writes_nothing(self, root):
        collector = Collector.get()

        def items():
            yield full_item(0)
            raise RuntimeError("source broke")

        with pytest.raises(RuntimeError, match="source broke"):
            collector.update_push_items(items())
        assert not root.exists()

    def test_eight_threads_give_whole_lines(self, root, monkeypatch):
        threads, per_thread, batch = 8, 5000, 250
        monkeypatch.setattr(batch_module, "COPY_CHUNK_BYTES", CHUNK_BYTES)
        errors = []

        def write(tag):
            try:
                collector = Collector.get()
                for start in range(0, per_thread, batch):
                    items = (
                        full_item(n, writer=tag, batch=start // batch)
                        for n in range(start, start + batch)
                    )
                    collector.update_push_items(items).result()
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=write, args=(tag,)) for tag in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        lines = log_lines(root, Collector.current_run().id)
        assert len(lines) == 40_000
        assert_whole_batches(lines, batch, threads, per_thread)

    def test_four_processes_give_whole_lines(self, root, tmp_path):
        processes, per_process, batch = 4, 10_000, 250
        run = Collector.current_run()
        go = tmp_path / "go"
        env = {**subprocess_env(), "PYTHONPATH": str(PROJECT)}
        module = [sys.executable, "-m", "tests.support.pushcollector_writer", str(root), run.id]
        writers = [
            subprocess.Popen(
                [*module, *(str(value) for value in (tag, per_process, batch, go, CHUNK_BYTES))],
                cwd=PROJECT,
                env=env,
                stderr=subprocess.PIPE,
            )
            for tag in range(processes)
        ]
        go.touch()
        for writer in writers:
            _, stderr = writer.communicate(timeout=120)
            assert writer.returncode == 0, stderr.decode()
        lines = log_lines(root, run.id)
        assert len(lines) == 40_000
        assert_whole_batches(lines, batch, processes, per_process)

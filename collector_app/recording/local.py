"""The ``local`` recorder: one folder per recording run under ``COLLECTORS["ARTIFACTS_ROOT"]``.

::

    <ARTIFACTS_ROOT>/
        20261123130405-9f2c1a/
            pushitems.jsonl      one push item per line, keys sorted, UTF-8
            report.txt           attached and appended files (sub-folders allowed)
        latest -> 20261123130405-9f2c1a

Outside a recording run each ``LocalCollector`` (each ``Collector.get()``) makes a folder of
its own, named by :meth:`LocalCollector.timestamp`, and moves ``latest`` to it, as
pushcollector did; the first write of each file logs ``Logging to <path>``. In a plain
script with no Django settings module the root is ``./artifacts``, as in pushcollector.

Many threads and processes may record into one run at once: a batch of push items is
appended as whole lines while holding a thread lock and ``fcntl.flock`` on the log, so
lines never interleave and a batch is never split by another writer's lines.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import collectors_setting
from .base import PUSH_ITEMS_FILE, RecorderBackend, django_configured
from .batch import PushItemBatch
from .runs import Run, active_run, generate_run_id, standalone_run

LATEST_LINK = "latest"
logger = logging.getLogger(__name__)

_guard = threading.Lock()
_path_locks: dict[str, threading.Lock] = {}


def _reset_locks_after_fork() -> None:
    """A child forked while another thread held a lock would wait for it forever."""
    global _guard
    _guard = threading.Lock()
    _path_locks.clear()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


def _thread_lock(path: Path) -> threading.Lock:
    with _guard:
        return _path_locks.setdefault(str(path), threading.Lock())


def artifacts_root(root: str | os.PathLike | None = None) -> Path:
    """The configured root, which must be absolute: never the working directory, except in
    a plain script with no Django settings, where it is ``./artifacts`` as in pushcollector."""
    if root is None:
        if not django_configured():
            return Path.cwd() / "artifacts"
        root = collectors_setting("ARTIFACTS_ROOT")
    if root is None or root == "":
        raise ImproperlyConfigured(
            "the 'local' recorder needs COLLECTORS['ARTIFACTS_ROOT']: the folder its run "
            "folders go in (e.g. BASE_DIR / 'var' / 'artifacts')"
        )
    path = Path(os.fspath(root))
    if not path.is_absolute():
        raise ImproperlyConfigured(
            f"COLLECTORS['ARTIFACTS_ROOT'] must be an absolute path, got {os.fspath(root)!r}"
        )
    return path


def point_latest(root: Path, run_id: str) -> None:
    """Replace ``root/latest`` atomically by a relative link to ``run_id``."""
    temporary = root / f".{LATEST_LINK}-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(run_id, temporary)
    try:
        os.replace(temporary, root / LATEST_LINK)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LocalCollector(RecorderBackend):
    """Records into ``<root>/<run id>/``; see the module docstring for the layout."""

    name = "local"

    def __init__(self, root: str | os.PathLike | None = None, run: Run | None = None) -> None:
        self.root = artifacts_root(root)
        self.run = run or active_run() or standalone_run(self.timestamp())
        self.folder = self.root / self.run.id
        self._prepared = False

    def __repr__(self) -> str:
        return f"<LocalCollector {self.folder}>"

    @classmethod
    def timestamp(cls) -> str:
        """The folder name of a collector made outside a recording run: the time, sortable
        as pushcollector's, plus random digits so two in one second never share a folder."""
        return generate_run_id(datetime.now(UTC))

    # -- the run folder --

    def prepare(self) -> Path:
        """Create the run folder on first use; point ``latest`` at it when it is new, and
        repair ``latest`` when it is missing or dangling."""
        if self._prepared:
            return self.folder
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.folder.mkdir()
            created = True
        except FileExistsError:
            created = False
        link = self.root / LATEST_LINK
        if created or not os.path.exists(link):  # exists() is False for a dangling link
            try:
                point_latest(self.root, self.run.id)
            except OSError as exc:  # a convenience link never fails a recording
                logger.warning("could not point %s at %s: %s", link, self.run.id, exc)
        self._prepared = True
        return self.folder

    def path_of(self, filename: str) -> Path:
        """The file's path in the run folder; its folders are created. ``filename`` was
        checked by the collector; symbolic links inside the run cannot lead out of it."""
        folder = self.prepare()
        inside = folder.resolve()
        path = folder.joinpath(*filename.split("/"))
        existing = path.parent  # check first, create after: a planted link makes nothing
        while not os.path.lexists(existing) and existing != folder:
            existing = existing.parent
        if not existing.resolve().is_relative_to(inside):
            raise ValueError(f"file name {filename!r} leads outside the run folder {folder}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.parent.resolve().is_relative_to(inside):
            raise ValueError(f"file name {filename!r} leads outside the run folder {folder}")
        return path

    # -- writing --

    def _log_new(self, path: Path) -> None:
        """Say where a file goes the first time it is written, as pushcollector does."""
        if not os.path.lexists(path):
            logger.info("Logging to %s", path)

    def _locked_append(self, path: Path, chunks: Any, whole_lines: bool = False) -> None:
        """Append under the thread lock and ``flock``; on failure, cut the file back."""
        self._log_new(path)
        with _thread_lock(path):
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                start = os.fstat(fd).st_size
                try:
                    if whole_lines and start and os.pread(fd, 1, start - 1) != b"\n":
                        _write_all(fd, b"\n")  # a writer died mid-line: keep ours whole
                    for chunk in chunks:
                        _write_all(fd, chunk)
                except BaseException:
                    os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)  # releases the flock too

    def write_push_items(self, batch: PushItemBatch) -> None:
        if not batch.count:
            return
        self._locked_append(self.path_of(PUSH_ITEMS_FILE), batch.chunks(), whole_lines=True)

    def attach_file(self, filename: str, content: bytes) -> None:
        path = self.path_of(filename)
        self._log_new(path)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "xb") as handle:
                handle.write(content)
            os.replace(temporary, path)  # readers see the old file or the new, never half
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def append_file(self, filename: str, content: bytes) -> None:
        self._locked_append(self.path_of(filename), [content])

    # -- reading back (tests, the contract suite, tools) --

    def read_push_items(self) -> list[dict[str, Any]]:
        """Every push item recorded in the run, in log order."""
        path = self.folder / PUSH_ITEMS_FILE
        if not path.exists():
            return []
        with open(path, "rb") as handle:
            return [json.loads(line) for line in handle]

    def read_file(self, filename: str) -> bytes | None:
        """A recorded file's content, or ``None`` if the run has no such file."""
        path = self.folder.joinpath(*filename.split("/"))
        return path.read_bytes() if path.is_file() else None

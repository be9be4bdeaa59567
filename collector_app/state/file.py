"""The ``file`` state store: one JSON file per key under ``COLLECTORS["STATE_DIR"]``.

A save writes the whole file to a temporary file in the same directory, fsyncs it, renames it
over the old one (``os.replace`` is atomic) and fsyncs the directory, so after a crash at any
point the file holds either the previous state or the new one, never a mix. A crash before the
rename can leave a ``.tmp-*`` file behind; it is never read and may be deleted.

File names come from the key: letters, digits, ``-``, ``_`` and ``.`` are kept and everything
else is percent-encoded (``feed:3f1c...`` is ``feed%3A3f1c....json``), so keys never escape
the directory and never collide; very long names end in a hash of the key instead.

A file holds ``{"version": n, "key": ..., "collector": ..., "config_digest": ...,
"updated": ..., "state": ...}``; the version comes first so a save reads only the file's head.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from django.core.exceptions import ImproperlyConfigured

from ..conf import collectors_setting
from .base import (
    BaseStateStore,
    CorruptStateError,
    NoState,
    StateRecord,
    decode_state,
    encode_state,
)

SUFFIX = ".json"
TEMP_PREFIX = ".tmp-"
_LONGEST_STEM = 180
_HEAD = re.compile(rb'^\{"version":(\d+),')
_ENVELOPE = ("version", "key", "collector", "config_digest", "updated", "state")


def file_stem(key: str) -> str:
    """The file name (without ``.json``) of ``key``: safe characters only, no collisions."""
    stem = quote(key, safe="-_.")
    if stem.startswith(TEMP_PREFIX):  # temporary files are skipped: never look like one
        stem = f"%2E{stem[1:]}"
    if len(stem) > _LONGEST_STEM:
        stem = f"{stem[:120]}~{hashlib.sha256(key.encode()).hexdigest()[:32]}"
    return stem


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStateStore(BaseStateStore):
    name = "file"

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        directory = directory if directory is not None else collectors_setting("STATE_DIR")
        if not directory:
            raise ImproperlyConfigured(
                "the 'file' state store needs a directory: set COLLECTORS['STATE_DIR'] "
                "(or use COLLECTORS['STATE_STORE'] = 'db')"
            )
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{file_stem(key)}{SUFFIX}"

    def describe(self, key: str) -> str:
        return f"file {self.path(key)}"

    # -- reading ----------------------------------------------------------------------------
    def _read(self, path: Path, key: str | None) -> dict[str, Any]:
        where = f"file {path}"
        raw = path.read_bytes()  # FileNotFoundError: nothing stored
        shown = key or path.name
        try:
            envelope = json.loads(raw)
        except ValueError as exc:
            raise CorruptStateError(shown, where, f"invalid JSON: {exc}") from None
        if not isinstance(envelope, dict) or set(envelope) != set(_ENVELOPE):
            raise CorruptStateError(
                shown, where, f"not a state file (expected the keys {', '.join(_ENVELOPE)})"
            )
        if key is not None and envelope["key"] != key:
            raise CorruptStateError(
                key, where, f"the file holds the state of key {envelope['key']!r}"
            )
        if not isinstance(envelope["version"], int) or isinstance(envelope["version"], bool):
            raise CorruptStateError(
                shown, where, f"version {envelope['version']!r} is not a number"
            )
        return envelope

    def load(self, key: str) -> Any:
        try:
            data = self._read(self.path(key), key)["state"]
        except FileNotFoundError:
            raise NoState(key, self.describe(key)) from None
        return decode_state(data, key, self.describe(key))

    def _version(self, path: Path) -> int:
        """The stored version, from the file's head (0 if absent or unreadable)."""
        try:
            with path.open("rb") as stream:
                match = _HEAD.match(stream.read(64))
        except FileNotFoundError:
            return 0
        return int(match.group(1)) if match else 0

    # -- writing ----------------------------------------------------------------------------
    def save(self, key: str, state: Any, collector: str, digest: str) -> None:
        text = encode_state(state, collector)  # InvalidStateError before touching any file
        path = self.path(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        head = json.dumps(
            {
                "version": self._version(path) + 1,
                "key": key,
                "collector": collector,
                "config_digest": digest,
                "updated": datetime.now(UTC).isoformat(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        data = f'{head[:-1]},"state":{text}}}'.encode()
        self._write_atomically(path, data)

    def _write_atomically(self, path: Path, data: bytes) -> None:
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=TEMP_PREFIX, suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.directory)

    def reset(self, key: str) -> bool:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        _fsync_directory(self.directory)
        return True

    # -- listing ----------------------------------------------------------------------------
    def _record(self, path: Path) -> StateRecord | None:
        try:
            envelope = self._read(path, None)
        except FileNotFoundError:
            return None  # reset meanwhile
        except CorruptStateError as exc:
            stem = path.name[: -len(SUFFIX)]
            key = stem if "~" in stem else unquote(stem)
            return StateRecord(key, "", "", 0, None, f"file {path}", exc.reason)
        updated = None
        with contextlib.suppress(TypeError, ValueError):
            updated = datetime.fromisoformat(envelope["updated"])
        return StateRecord(
            key=envelope["key"],
            collector=envelope["collector"],
            config_digest=envelope["config_digest"],
            version=envelope["version"],
            updated=updated,
            location=f"file {path}",
        )

    def list(self) -> builtins.list[StateRecord]:
        if not self.directory.is_dir():
            return []
        records = [
            record
            for path in self.directory.glob(f"*{SUFFIX}")
            if not path.name.startswith(TEMP_PREFIX) and (record := self._record(path))
        ]
        return sorted(records, key=lambda record: (record.collector, record.key))

    def info(self, key: str) -> StateRecord | None:
        path = self.path(key)
        return self._record(path) if path.exists() else None

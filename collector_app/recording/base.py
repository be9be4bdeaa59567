"""What the built-in recorders share: the backend base class and the argument checks."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from .batch import PushItemBatch

#: The push-item log's name in a run (a file of that name cannot be attached).
PUSH_ITEMS_FILE = "pushitems.jsonl"


class RecorderBackend:
    """Base class of recorders that take validated batches rather than lists of dicts.

    ``Collector`` hands a subclass the :class:`PushItemBatch` itself, so it can stream the
    items (and keep memory bounded); other backends, written for pushcollector's interface,
    get ``update_push_items(list_of_dicts)``. Either way the items were validated first, a
    file name was checked by :func:`check_filename` and content is ``bytes``. Methods may
    block and return anything (the collector wraps it in a done future) or return a future.
    """

    #: The name the backend is known by (for messages; the registry decides the real name).
    name: ClassVar[str] = ""

    def write_push_items(self, batch: PushItemBatch) -> Any:
        """Record the batch, all of it or none of it."""
        raise NotImplementedError

    def attach_file(self, filename: str, content: bytes) -> Any:
        """Create or replace ``filename`` in the run."""
        raise NotImplementedError

    def append_file(self, filename: str, content: bytes) -> Any:
        """Add ``content`` at the end of ``filename`` in the run, creating it if needed."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend holds; called when a ``with`` block on it ends."""


def django_configured() -> bool:
    """Whether Django settings are there to read (a plain script may have none)."""
    from django.conf import settings

    return settings.configured or bool(os.environ.get("DJANGO_SETTINGS_MODULE"))


def check_filename(filename: object) -> str:
    """A file name that stays inside its run folder, normalised (``./a//b`` is ``a/b``).

    Refused, with the reason: absolute paths, ``..`` parts, backslashes (a separator on
    Windows), NUL, names of folders, and the push-item log's own name.
    """
    if not isinstance(filename, str):
        raise TypeError(f"a file name must be a str, got {type(filename).__name__}")
    raw_parts = filename.split("/")
    parts = [part for part in raw_parts if part not in ("", ".")]
    problem = None
    if not filename:
        problem = "is empty"
    elif "\x00" in filename:
        problem = "contains a NUL character"
    elif "\\" in filename:
        problem = "contains a backslash: separate folders with '/'"
    elif filename.startswith("/"):
        problem = "is an absolute path: give a path relative to the run folder"
    elif ".." in raw_parts:
        problem = "contains '..': files cannot be written outside their run folder"
    elif not parts or filename.endswith("/"):
        problem = "names a folder, not a file"
    elif "/".join(parts).lower() == PUSH_ITEMS_FILE:
        problem = f"is the push-item log ({PUSH_ITEMS_FILE}): record items with update_push_items"
    if problem:
        raise ValueError(f"file name {filename!r} {problem}")
    return "/".join(parts)


def coerce_content(filename: str, content: object) -> bytes:
    """Bytes as given; ``str`` encoded as UTF-8 (as pushcollector does); nothing else."""
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    raise TypeError(
        f"content of {filename!r} must be bytes (or str, written as UTF-8), "
        f"got {type(content).__name__}"
    )

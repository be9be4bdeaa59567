"""A validated batch of push items, held as JSON lines in a spooled temporary file."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

#: Bytes kept in memory before the batch spills to a temporary file.
SPOOL_MAX_BYTES = 8 * 1024 * 1024
COPY_CHUNK_BYTES = 1024 * 1024


class PushItemBatch:
    """Items that passed validation, serialised once (sorted keys, UTF-8, one per line).

    Backends read it back as raw lines (the ``local`` recorder copies them byte for byte),
    as dicts, or in large chunks; memory stays bounded whatever the number of items.
    """

    def __init__(self, max_in_memory: int | None = None) -> None:
        if max_in_memory is None:
            max_in_memory = SPOOL_MAX_BYTES
        # Closed by close() (or the context manager), not a ``with`` here: the batch outlives
        # the function that fills it.
        self._spool = tempfile.SpooledTemporaryFile(
            max_size=max_in_memory, mode="w+b", prefix="pushitems-"
        )
        self.count = 0
        self.size = 0

    def add_lines(self, lines: list[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        self._spool.write(data)
        self.count += len(lines)
        self.size += len(data)

    @property
    def on_disk(self) -> bool:
        """Whether the batch outgrew memory and spilled to a temporary file."""
        return bool(getattr(self._spool, "_rolled", False))

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The serialised lines in chunks of up to ``size`` bytes (``COPY_CHUNK_BYTES`` by
        default); a chunk may end in the middle of a line."""
        size = size or COPY_CHUNK_BYTES
        self._spool.seek(0)
        while True:
            data = self._spool.read(size)
            if not data:
                return
            yield data

    def lines(self) -> Iterator[bytes]:
        """One JSON document per line, each ending in ``b"\\n"``."""
        self._spool.seek(0)
        yield from self._spool

    def items(self) -> Iterator[dict[str, Any]]:
        """The items as dicts, decoded from their JSON (what the backend stores)."""
        for line in self.lines():
            yield json.loads(line)

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> PushItemBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""The ``dummy`` recorder: everything is validated (by ``Collector``), nothing is stored.

For tests and for environments that need no record of a task; a caller's bad push item or
file name still fails exactly as it would with a real backend.
"""

from __future__ import annotations

from .base import RecorderBackend
from .batch import PushItemBatch


class DummyCollector(RecorderBackend):
    name = "dummy"

    def write_push_items(self, batch: PushItemBatch) -> None:
        return None

    def attach_file(self, filename: str, content: bytes) -> None:
        return None

    def append_file(self, filename: str, content: bytes) -> None:
        return None

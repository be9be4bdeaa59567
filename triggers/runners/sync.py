"""The ``sync`` runner: ready instances run inline, in this thread, cascades included.

Instances are queued and drained by the outermost ``schedule`` call of the thread, so a long
cascade chain is a loop, not a recursion, and nothing runs while a session lock is held.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import TYPE_CHECKING, ClassVar

from .base import BaseRunner, Dispatch

if TYPE_CHECKING:
    from ..manager import TriggerManager

_local = threading.local()
_sequence = itertools.count()


class SyncRunner(BaseRunner):
    name: ClassVar[str] = "sync"

    def schedule(self, manager: TriggerManager, items: list[Dispatch]) -> None:
        from ..execution import execute_instance

        started = time.monotonic()
        entries = [
            (started + max(0.0, item.delay), next(_sequence), manager, item.instance_name)
            for item in items
        ]
        queue = getattr(_local, "queue", None)
        if queue is not None:  # an outer call of this thread is draining: let it run these
            for entry in entries:
                heapq.heappush(queue, entry)
            return
        queue = _local.queue = []
        for entry in entries:
            heapq.heappush(queue, entry)
        try:
            while queue:
                due, _, queued_manager, name = heapq.heappop(queue)
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # a retry's cooldown, honoured even inline
                execute_instance(queued_manager, name)
        finally:
            _local.queue = None

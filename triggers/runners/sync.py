"""The ``sync`` runner: ready instances run inline, in this thread, cascades included.

Instances are queued and drained by the outermost ``schedule`` call of the thread, so a long
cascade chain is a loop, not a recursion, and nothing runs while a session lock is held.

When the project has a Redis for ``TRIGGERS["RQ_QUEUE"]`` (in ``RQ_QUEUES``), the runner is
recoverable like the ``rq`` one: each instance goes on the watch list in the write that schedules
it, and this process holds its lease from the moment it queues it until it ran, so a recovery
pass fails (``WorkerLost``) what a dead process left ``scheduled`` or ``running``. Without such
a Redis it touches no Redis at all.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from ..rq.lease import Leases
from ..rq.watch import optional_control_connection, unwatch, watch
from .base import BaseRunner, Dispatch

if TYPE_CHECKING:
    from ..manager import TriggerManager
    from ..types import TaskConfig, TaskInstance

logger = logging.getLogger("triggers.runners.sync")

_local = threading.local()
_sequence = itertools.count()


class SyncRunner(BaseRunner):
    name: ClassVar[str] = "sync"
    recoverable: ClassVar[bool] = True

    def prepare(
        self, manager: TriggerManager, instance: TaskInstance, config: TaskConfig, delay: float
    ) -> dict[str, Any]:
        connection = optional_control_connection()
        if connection is not None:
            try:
                watch(connection, manager.storage.name, manager.session_uid, instance.name)
            except Exception as exc:  # Redis away: run anyway, only recovery cannot see it
                logger.warning(
                    "%s/%s not put on the watch list (%s: %s)",
                    manager.session_uid,
                    instance.name,
                    type(exc).__name__,
                    exc,
                )
        return {}

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
                _local.leases.hold(manager.storage.name, manager.session_uid, entry[3])
                heapq.heappush(queue, entry)
            return
        connection = optional_control_connection()
        leases = _local.leases = Leases(connection)
        queue = _local.queue = []
        for entry in entries:
            leases.hold(manager.storage.name, manager.session_uid, entry[3])
            heapq.heappush(queue, entry)
        try:
            while queue:
                due, _, queued_manager, name = heapq.heappop(queue)
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # a retry's cooldown, honoured even inline
                ended = execute_instance(queued_manager, name)
                storage, uid = queued_manager.storage.name, queued_manager.session_uid
                leases.release(storage, uid, name)
                if ended is not None and connection is not None:
                    _forget(connection, storage, uid, name)
        finally:
            # What is left in the queue (an engine error ended the drain) keeps no lease:
            # recovery fails it once its lease expired.
            _local.queue = None
            _local.leases = None
            leases.stop()


def _forget(connection: Any, storage: str, uid: str, name: str) -> None:
    try:
        unwatch(connection, storage, uid, name)
    except Exception:  # recovery drops a resolved instance from the list by itself
        logger.warning("%s/%s not taken off the watch list", uid, name, exc_info=True)

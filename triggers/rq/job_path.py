"""How one ``run_instance`` job claims its instance, keeps its lease and ends its watch.

Where it can (the ``cache`` storage on the queue's Redis server), a job costs 3 round trips of
its own: the claim script (claim and lease), the unit of work that records the outcome (lock
with its reads, then the commit script, which also removes the watch entry and the lease).
Elsewhere it takes the generic path: ``TriggerManager.start_instance``, a lease ``SET``, and a
``ZREM`` + ``DEL`` after the outcome is saved. Either way the lease is renewed by the worker
watching the work horse (``triggers.rq.worker.Worker``) or by the process's one renewal
thread (``process_leases``), never by a thread per job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lease import lease_interval, lease_key, lease_ms, process_leases
from .watch import WATCH_KEY, _member, same_server

if TYPE_CHECKING:
    from ..manager import TriggerManager
    from ..types import TaskConfig, TaskInstance

#: Set in a work horse of ``triggers.rq.worker.Worker``: its worker closed every database
#: connection before the fork, the horse exits after its one job, and the worker renews the
#: lease (when ``LEASE_TIMEOUT`` allows a once-a-second renewal).
_work_horse = {"fresh": False, "renewed": False}


def mark_work_horse() -> None:
    """Called in a fresh work horse of ``triggers.rq.worker.Worker``, before its job runs."""
    _work_horse["fresh"] = True
    _work_horse["renewed"] = lease_interval() >= 1.0


def in_fresh_work_horse() -> bool:
    return _work_horse["fresh"]


class JobPath:
    """The claim, lease and watch of one job's instance (see the module's docstring)."""

    def __init__(self, manager: TriggerManager, connection: Any, instance_name: str) -> None:
        from ..manager import TriggerManager
        from ..storages.cache import CacheStorageBackend
        from ..storages.cache_claim import FinishWatch
        from ..storages.cache_primitives import RedisKV

        self.manager = manager
        self.connection = connection
        storage = manager.storage
        self.instance = (storage.name, manager.session_uid, instance_name)
        self.lease_key = lease_key(*self.instance)
        self.held = False
        self.cache: CacheStorageBackend | None = None
        self.finish: FinishWatch | None = None
        if isinstance(storage, CacheStorageBackend) and isinstance(storage.kv, RedisKV):
            if type(manager).start_instance is TriggerManager.start_instance:
                self.cache = storage  # a subclass's own start_instance is always called
            if same_server(storage.kv.client, connection):
                if storage.kv.client is not connection:  # one connection per (forked) process
                    storage.kv = RedisKV(storage.cache, connection)
                self.finish = storage.finish_watch = FinishWatch(
                    instance_name, WATCH_KEY, _member(*self.instance), self.lease_key
                )

    def claim(self) -> tuple[TaskInstance, TaskConfig] | None:
        """``scheduled -> running`` and the lease; ``None`` when the instance must not run."""
        name = self.instance[2]
        if self.cache is not None:
            with_lease = self.finish is not None  # the lease lives on the cache's server
            claimed = self.cache.claim_scheduled(
                name, self.lease_key if with_lease else None, lease_ms()
            )
            if claimed is not None:
                self._hold(taken=with_lease)
                return claimed
        claimed = self.manager.start_instance(name)
        if claimed is not None:
            self._hold(taken=False)
        return claimed

    def _hold(self, taken: bool) -> None:
        self.held = True
        if _work_horse["renewed"]:  # the worker watching this horse renews the lease
            if not taken:
                self.connection.set(self.lease_key, "1", px=lease_ms())
            return
        # The renewal thread keeps a client of its own: a thread of a work horse that used the
        # worker's connection broke the worker's pubsub (its teardown then hung 60 s).
        process_leases().hold(*self.instance, taken=taken)

    def release(self) -> None:
        """Stop renewing the lease (the finish script, or ``end_watch``, deletes it)."""
        if self.held and not _work_horse["renewed"]:
            process_leases().release(*self.instance)
        if self.finish is not None:
            self.manager.storage.finish_watch = None  # type: ignore[attr-defined]

    def end_watch(self) -> None:
        """Once the outcome is saved: off the watch list, lease deleted, unless the write that
        saved it did both."""
        if self.finish is not None and self.finish.done:
            return
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.zrem(WATCH_KEY, _member(*self.instance))
            pipe.delete(self.lease_key)
            pipe.execute()

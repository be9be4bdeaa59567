"""Redis records that let recovery find instances a crash left behind.

* the **watch list** (sorted set ``triggers:watch``): every instance handed to the ``rq`` runner,
  added in the same unit of work that schedules it (before the session is saved), removed once
  its job recorded an outcome. It is a superset of what needs watching, never a subset.
* a **lease** per running instance (``triggers:lease:<digest>``), renewed by a heartbeat thread
  in the job's process (and, on the forking ``triggers.worker.Worker``, by the worker that
  watches the work horse); when a worker dies the lease expires and recovery fails the instance.

The ``sync`` runner keeps both as well (a lease from the moment it queues an instance), when the
project configures a Redis for ``TRIGGERS["RQ_QUEUE"]`` in ``RQ_QUEUES``; without one it runs
with neither. Both live on the Redis connection of the ``TRIGGERS["RQ_QUEUE"]`` queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any

from django.conf import settings

from .conf import triggers_setting

logger = logging.getLogger("triggers.watch")

WATCH_KEY = "triggers:watch"
RECOVERY_LOCK_KEY = "triggers:recovery:lock"

_connections: dict[tuple[int, str], Any] = {}


def control_connection() -> Any:
    """The Redis connection of the ``RQ_QUEUE`` queue, one per process and queue name."""
    return queue_connection(triggers_setting("RQ_QUEUE"))


def queue_connection(queue_name: str) -> Any:
    """The Redis connection of one django-rq queue, opened once per process (django-rq opens a
    new one, with its handshake round trips, every time it is asked for a queue)."""
    import os

    import django_rq

    key = (os.getpid(), queue_name)
    if key not in _connections:
        _connections[key] = django_rq.get_connection(queue_name)
    return _connections[key]


def redis_configured() -> bool:
    """Whether ``RQ_QUEUES`` names the ``RQ_QUEUE`` queue, i.e. the project has a Redis for it."""
    return triggers_setting("RQ_QUEUE") in (getattr(settings, "RQ_QUEUES", None) or {})


def optional_control_connection() -> Any | None:
    """``control_connection()`` when the project has a Redis for it, else ``None``."""
    return control_connection() if redis_configured() else None


def _member(storage: str, uid: str, name: str) -> str:
    return json.dumps([storage, uid, name], separators=(",", ":"))


def digest(storage: str, uid: str, name: str) -> str:
    """A stable id for one instance, made only of characters RQ accepts in job ids."""
    return hashlib.sha1(_member(storage, uid, name).encode()).hexdigest()


def job_id_for(storage: str, uid: str, name: str) -> str:
    return f"triggers-{digest(storage, uid, name)}"


def same_server(first: Any, second: Any) -> bool:
    """Whether two redis-py clients talk to the same server and database."""
    keys = ("host", "port", "db", "path")
    a, b = first.connection_pool.connection_kwargs, second.connection_pool.connection_kwargs
    # Sentinel pools have no host: the service they follow names the server.
    services = (getattr(c.connection_pool, "service_name", None) for c in (first, second))
    return all(a.get(key) == b.get(key) for key in keys) and len(set(services)) == 1


def watch(connection: Any, storage: str, uid: str, name: str) -> None:
    connection.zadd(WATCH_KEY, {_member(storage, uid, name): time.time()})


def unwatch(connection: Any, storage: str, uid: str, name: str) -> None:
    connection.zrem(WATCH_KEY, _member(storage, uid, name))


def watched(
    connection: Any, until: float | None = None, limit: int | None = None
) -> list[tuple[str, str, str]]:
    """Watched instances, oldest first; only those added at or before ``until`` (a Unix time),
    at most ``limit`` of them, when given (one ``ZRANGEBYSCORE``, however long the list)."""
    if until is None and limit is None:
        raws = connection.zrange(WATCH_KEY, 0, -1)
    else:
        top = "+inf" if until is None else repr(float(until))
        page = {"start": 0, "num": int(limit)} if limit is not None else {}
        raws = connection.zrangebyscore(WATCH_KEY, "-inf", top, **page)
    entries = []
    for raw in raws:
        storage, uid, name = json.loads(raw)
        entries.append((storage, uid, name))
    return entries


def lease_key(storage: str, uid: str, name: str) -> str:
    return f"triggers:lease:{digest(storage, uid, name)}"


def lease_alive(connection: Any, storage: str, uid: str, name: str) -> bool:
    return bool(connection.exists(lease_key(storage, uid, name)))


def lease_interval() -> float:
    """Seconds between two renewals of a lease: a third of ``LEASE_TIMEOUT``."""
    return float(triggers_setting("LEASE_TIMEOUT")) / 3


def extend_lease(connection: Any, storage: str, uid: str, name: str) -> bool:
    """Push back the expiry of a lease that exists (never creates one); True if it existed."""
    timeout_ms = max(1, int(float(triggers_setting("LEASE_TIMEOUT")) * 1000))
    return bool(connection.set(lease_key(storage, uid, name), "1", px=timeout_ms, xx=True))


class Leases:
    """The leases one process holds, renewed together by one daemon thread.

    With ``connection=None`` (no Redis configured) every method does nothing. A Redis error
    never stops the work the lease covers: it is logged and the next beat tries again.
    """

    def __init__(self, connection: Any | None) -> None:
        self.connection = connection
        self.timeout = float(triggers_setting("LEASE_TIMEOUT"))
        self._keys: set[str] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _renew(self, keys: list[str]) -> None:
        connection = self.connection
        if connection is None:
            return
        px = max(1, int(self.timeout * 1000))
        if len(keys) == 1:
            connection.set(keys[0], "1", px=px)
            return
        with connection.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, "1", px=px)
            pipe.execute()

    def hold(self, storage: str, uid: str, name: str) -> None:
        """Take the lease of one instance now, and keep renewing it until ``release``."""
        if self.connection is None:
            return
        key = lease_key(storage, uid, name)
        with self._guard:
            self._keys.add(key)
        try:
            self._renew([key])
        except Exception as exc:
            logger.warning("lease %s not taken (%s: %s); retrying", key, type(exc).__name__, exc)
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="triggers leases", daemon=True)
            self._thread.start()

    def release(self, storage: str, uid: str, name: str) -> None:
        """Stop renewing one lease. The key is left to expire: an instance runs once, so nobody
        needs it gone sooner, and not deleting it saves a round trip."""
        with self._guard:
            self._keys.discard(lease_key(storage, uid, name))

    def _beat(self) -> None:
        while not self._stop.wait(self.timeout / 3):
            with self._guard:
                keys = sorted(self._keys)
            if not keys:
                continue
            try:
                self._renew(keys)
            except Exception:  # a Redis hiccup: try again on the next beat
                continue

    def stop(self) -> None:
        """Stop renewing every lease (they expire on their own)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None


class Lease:
    """Proof that a process is still running an instance, renewed by a daemon thread."""

    def __init__(self, connection: Any, storage: str, uid: str, name: str) -> None:
        self.instance = (storage, uid, name)
        self._leases = Leases(connection)

    def start(self, *_: Any) -> None:
        self._leases.hold(*self.instance)

    def stop(self) -> None:
        self._leases.stop()

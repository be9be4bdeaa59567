"""The watch list: Redis records that let recovery find instances a crash left behind.

* the **watch list** (sorted set ``triggers:watch``): every instance handed to the ``rq`` runner,
  added in the same unit of work that schedules it (before the session is saved), removed once
  its job recorded an outcome. It is a superset of what needs watching, never a subset.
* a **lease** per running instance (``triggers:lease:<digest>``), renewed by the forking
  ``triggers.rq.worker.Worker`` that watches the work horse, or else by one thread per process;
  when a worker dies the lease expires and recovery fails the instance.
  The leases live in ``triggers.rq.lease``; their names are importable from here too.

The ``sync`` runner keeps both as well (a lease from the moment it queues an instance), when the
project configures a Redis for ``TRIGGERS["RQ_QUEUE"]`` in ``RQ_QUEUES``; without one it runs
with neither. Both live on the Redis connection of the ``TRIGGERS["RQ_QUEUE"]`` queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from django.conf import settings

from ..conf import triggers_setting

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


def __getattr__(name: str) -> Any:
    # The lease names, still importable (and patchable) here as from ``triggers.watch``; lazy,
    # because ``triggers.rq.lease`` builds its keys with ``digest`` from this module.
    if name in _LEASE_NAMES:
        from . import lease

        return getattr(lease, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LEASE_NAMES = ("Lease", "Leases", "extend_lease", "lease_alive", "lease_interval", "lease_key")

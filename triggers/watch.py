"""Redis records that let recovery find instances a crash left behind.

* the **watch list** (sorted set ``triggers:watch``): every instance handed to the ``rq`` runner,
  added in the same unit of work that schedules it (before the session is saved), removed once
  its job recorded an outcome. It is a superset of what needs watching, never a subset.
* a **lease** per running instance (``triggers:lease:<digest>``), renewed by a heartbeat thread
  in the job's process; when a worker dies the lease expires and recovery fails the instance.

Both live on the Redis connection of the ``TRIGGERS["RQ_QUEUE"]`` queue.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

from .conf import triggers_setting

WATCH_KEY = "triggers:watch"
RECOVERY_LOCK_KEY = "triggers:recovery:lock"

_connections: dict[tuple[int, str], Any] = {}


def control_connection() -> Any:
    """The Redis connection of the ``RQ_QUEUE`` queue, one per process and queue name."""
    import os

    import django_rq

    key = (os.getpid(), triggers_setting("RQ_QUEUE"))
    if key not in _connections:
        _connections[key] = django_rq.get_connection(key[1])
    return _connections[key]


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
    return all(a.get(key) == b.get(key) for key in keys)


def watch(connection: Any, storage: str, uid: str, name: str) -> None:
    connection.zadd(WATCH_KEY, {_member(storage, uid, name): time.time()})


def unwatch(connection: Any, storage: str, uid: str, name: str) -> None:
    connection.zrem(WATCH_KEY, _member(storage, uid, name))


def watched(connection: Any) -> list[tuple[str, str, str]]:
    entries = []
    for raw in connection.zrange(WATCH_KEY, 0, -1):
        storage, uid, name = json.loads(raw)
        entries.append((storage, uid, name))
    return entries


def lease_key(storage: str, uid: str, name: str) -> str:
    return f"triggers:lease:{digest(storage, uid, name)}"


def lease_alive(connection: Any, storage: str, uid: str, name: str) -> bool:
    return bool(connection.exists(lease_key(storage, uid, name)))


class Lease:
    """Proof that a process is still running an instance, renewed by a daemon thread."""

    def __init__(self, connection: Any, storage: str, uid: str, name: str) -> None:
        self.connection = connection
        self.key = lease_key(storage, uid, name)
        self.timeout = float(triggers_setting("LEASE_TIMEOUT"))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _renew(self) -> None:
        self.connection.set(self.key, "1", px=max(1, int(self.timeout * 1000)))

    def start(self, *_: Any) -> None:
        self._renew()
        self._thread = threading.Thread(target=self._beat, name=f"lease {self.key}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.timeout / 3):
            try:
                self._renew()
            except Exception:  # a Redis hiccup: try again on the next beat
                continue

    def stop(self) -> None:
        """Stop renewing. The key is left to expire: an instance runs once, so nobody needs it
        gone sooner, and not deleting it saves a round trip per job."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()

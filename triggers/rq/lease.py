"""Leases: proof, renewed in Redis, that a process is still running an instance.

A lease (``triggers:lease:<digest>``) is taken when a job claims its instance (by the claim
script on the ``cache`` storage) and deleted by the write that records its outcome. On the
forking ``triggers.rq.worker.Worker`` the worker watching the work horse renews it; elsewhere
(``SimpleWorker``, a plain ``rq worker``) one heartbeat thread per process renews every lease
the process holds (``process_leases``), never a thread per job. When the process dies the key
expires and recovery fails the instance. Both classes build on ``triggers.leasing`` (``Lease``
is a ``RedisKeyLease``, ``Leases`` beats with its ``Heartbeat``), the lease base the collector
lock uses too.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from ..conf import triggers_setting
from ..leasing import Heartbeat, RedisKeyLease
from .watch import digest

logger = logging.getLogger("triggers.watch")


def lease_key(storage: str, uid: str, name: str) -> str:
    return f"triggers:lease:{digest(storage, uid, name)}"


def lease_alive(connection: Any, storage: str, uid: str, name: str) -> bool:
    return bool(connection.exists(lease_key(storage, uid, name)))


def lease_interval() -> float:
    """Seconds between two renewals of a lease: a third of ``LEASE_TIMEOUT``."""
    return float(triggers_setting("LEASE_TIMEOUT")) / 3


def lease_ms() -> int:
    """A lease's expiry in milliseconds (Redis ``PX``): ``LEASE_TIMEOUT``, at least 1 ms."""
    return max(1, int(float(triggers_setting("LEASE_TIMEOUT")) * 1000))


def extend_lease(connection: Any, storage: str, uid: str, name: str) -> bool:
    """Push back the expiry of a lease that exists (never creates one); True if it existed."""
    return bool(connection.set(lease_key(storage, uid, name), "1", px=lease_ms(), xx=True))


class Leases:
    """The leases one process holds, renewed together by one daemon thread.

    With ``connection=None`` (no Redis configured) every method does nothing. A Redis error
    never stops the work the lease covers: it is logged and the next beat tries again. With
    ``extend_only`` a beat only pushes back leases that exist: one deleted by the write that
    ended its run is never set again by a beat that raced it.
    """

    def __init__(self, connection: Any | None, extend_only: bool = False) -> None:
        self.connection = connection
        self.extend_only = extend_only
        self.timeout = float(triggers_setting("LEASE_TIMEOUT"))
        self._keys: set[str] = set()
        self._guard = threading.Lock()
        self._heartbeat: Heartbeat | None = None

    def _renew(self, keys: list[str], extend_only: bool = False) -> None:
        """Set (or, ``extend_only``, only push back: a lease deleted meanwhile stays deleted)
        the expiry of ``keys``."""
        connection = self.connection
        if connection is None:
            return
        px = max(1, int(self.timeout * 1000))
        if len(keys) == 1:
            connection.set(keys[0], "1", px=px, xx=extend_only)
            return
        with connection.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, "1", px=px, xx=extend_only)
            pipe.execute()

    def hold(self, storage: str, uid: str, name: str, taken: bool = False) -> None:
        """Take the lease of one instance now (unless ``taken``: the claim script took it), and
        keep renewing it until ``release``."""
        if self.connection is None:
            return
        key = lease_key(storage, uid, name)
        with self._guard:
            self._keys.add(key)
        if not taken:
            try:
                self._renew([key])
            except Exception as exc:
                logger.warning(
                    "lease %s not taken (%s: %s); retrying", key, type(exc).__name__, exc
                )
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self._beat, self.timeout / 3, "triggers leases").start()

    def release(self, storage: str, uid: str, name: str) -> None:
        """Stop renewing one lease. The key is left to whoever ends the run: the ``rq`` job's
        finish script deletes it; otherwise it expires."""
        with self._guard:
            self._keys.discard(lease_key(storage, uid, name))

    def held(self) -> list[str]:
        """The lease keys being renewed."""
        with self._guard:
            return sorted(self._keys)

    def _beat(self) -> None:
        with self._guard:
            keys = sorted(self._keys)
        if not keys:
            return
        try:
            self._renew(keys, extend_only=self.extend_only)
        except Exception:  # a Redis hiccup: try again on the next beat
            return

    def stop(self) -> None:
        """Stop renewing every lease (they expire on their own)."""
        if self._heartbeat is None:
            return
        self._heartbeat.stop()
        self._heartbeat = None

    def set_timeout(self, timeout: float) -> None:
        """Renew for ``timeout`` seconds from now on, the next beat a third of it from now."""
        if timeout == self.timeout:
            return
        self.timeout = timeout
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = Heartbeat(self._beat, timeout / 3, "triggers leases").start()


_process_leases: dict[int, Leases] = {}


def process_leases(connection: Any | None = None) -> Leases:
    """The leases of this process (a forked child gets its own), renewed by one heartbeat
    thread started with the first ``hold``; ``connection`` is used the first time only."""
    pid = os.getpid()
    leases = _process_leases.get(pid)
    if leases is None:
        if connection is None:
            from .watch import control_connection

            connection = control_connection()
        leases = _process_leases[pid] = Leases(connection, extend_only=True)
    leases.set_timeout(float(triggers_setting("LEASE_TIMEOUT")))
    return leases


class Lease(RedisKeyLease):
    """Proof that a process is still running an instance (or a collector run), renewed by a
    heartbeat thread of its own; an ``rq`` job's instance lease goes through
    ``process_leases`` instead, which shares one thread between all of a process's leases."""

    #: An instance runs once, so nobody needs the key gone sooner: it is left to expire, which
    #: saves a round trip.
    DELETE_ON_RELEASE = False

    def __init__(self, connection: Any, storage: str, uid: str, name: str) -> None:
        timeout = float(triggers_setting("LEASE_TIMEOUT"))
        super().__init__(connection, lease_key(storage, uid, name), timeout)
        self.instance = (storage, uid, name)

    def start(self, *_: Any) -> None:
        """Take the lease and keep renewing it until ``stop`` (a job's ``on_claim`` hook)."""
        self.hold("triggers lease")

    def stop(self) -> None:
        self.release()

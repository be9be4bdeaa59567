"""Leases: proof, renewed in Redis, that a process is still running an instance.

A lease (``triggers:lease:<digest>``) is taken when a job claims its instance and renewed by a
daemon thread (and, on the forking ``triggers.rq.worker.Worker``, by the worker watching the
work horse); when the process dies the key expires and recovery fails the instance. Both
classes build on ``triggers.leasing`` (``Lease`` is a ``RedisKeyLease``, ``Leases`` beats with
its ``Heartbeat``), the lease base the collector lock uses too.
"""

from __future__ import annotations

import logging
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
        self._heartbeat: Heartbeat | None = None

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
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self._beat, self.timeout / 3, "triggers leases").start()

    def release(self, storage: str, uid: str, name: str) -> None:
        """Stop renewing one lease. The key is left to expire: an instance runs once, so nobody
        needs it gone sooner, and not deleting it saves a round trip."""
        with self._guard:
            self._keys.discard(lease_key(storage, uid, name))

    def _beat(self) -> None:
        with self._guard:
            keys = sorted(self._keys)
        if not keys:
            return
        try:
            self._renew(keys)
        except Exception:  # a Redis hiccup: try again on the next beat
            return

    def stop(self) -> None:
        """Stop renewing every lease (they expire on their own)."""
        if self._heartbeat is None:
            return
        self._heartbeat.stop()
        self._heartbeat = None


class Lease(RedisKeyLease):
    """Proof that a process is still running an instance, renewed by a daemon thread."""

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

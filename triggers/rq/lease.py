"""Leases: proof, renewed in Redis, that a process is still running an instance.

A lease (``triggers:lease:<digest>``) is taken when a job claims its instance (by the claim
script on the ``cache`` storage) and deleted by the write that records its outcome. On the
forking ``triggers.rq.worker.Worker`` the worker watching the work horse renews it; elsewhere
(``SimpleWorker``, a plain ``rq worker``) one daemon thread per process renews every lease the
process holds (``process_leases``), never a thread per job. When the process dies the key
expires and recovery fails the instance.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from ..conf import triggers_setting
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
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

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
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="triggers leases", daemon=True)
            self._thread.start()

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
        while True:
            woken = self._wake.wait(self.timeout / 3)
            self._wake.clear()
            if self._stop.is_set():
                return
            if woken:  # LEASE_TIMEOUT changed: wait a third of the new one first
                continue
            with self._guard:
                keys = sorted(self._keys)
            if not keys:
                continue
            try:
                self._renew(keys, extend_only=self.extend_only)
            except Exception:  # a Redis hiccup: try again on the next beat
                continue

    def stop(self) -> None:
        """Stop renewing every lease (they expire on their own)."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._thread = None


_process_leases: dict[int, Leases] = {}


def process_leases(connection: Any | None = None) -> Leases:
    """The leases of this process (a forked child gets its own), renewed by one daemon thread
    started with the first ``hold``; ``connection`` is used the first time only."""
    pid = os.getpid()
    leases = _process_leases.get(pid)
    if leases is None:
        if connection is None:
            from .watch import control_connection

            connection = control_connection()
        leases = _process_leases[pid] = Leases(connection, extend_only=True)
    timeout = float(triggers_setting("LEASE_TIMEOUT"))
    if timeout != leases.timeout:
        leases.timeout = timeout
        leases._wake.set()  # the next beat comes a third of the new timeout from now
    return leases


class Lease:
    """Proof that a process is still running an instance, renewed by a daemon thread of its
    own (``process_leases`` shares one thread between all of a process's leases)."""

    def __init__(self, connection: Any, storage: str, uid: str, name: str) -> None:
        self.instance = (storage, uid, name)
        self._leases = Leases(connection)

    def start(self, *_: Any) -> None:
        self._leases.hold(*self.instance)

    def stop(self) -> None:
        self._leases.stop()

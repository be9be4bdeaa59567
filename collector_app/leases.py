"""One run per collector at a time, across processes and machines: a lease in the database.

A ``CollectorLock`` row per collector name. Acquiring inserts the row; a row whose lease has
expired (its holder died) is taken over with one conditional ``UPDATE``. Every time is the
database's clock (``Now()``), so machines with skewed clocks agree on expiry. While held, a
heartbeat thread extends the lease every third of its length, so long runs keep it; a run
whose lease could not be extended in time (or was taken over) has its saves refused
(``LockLostError``) instead of interleaving with the run that took over. Leaving the ``with``
block deletes the row. ``CollectorLease`` is a ``triggers.leasing.Lease`` (the base of the
trigger-instance lease too): that base keeps the heartbeat, the ``lost`` flag and the local
deadline; this module says how the row is taken, renewed, released and seen alive.

The lock is named by the collector's *name*, not its key: changing a collector's configuration
while it runs cannot let a second run in beside it. It is re-entrant within one thread (a
collector that locks itself inside ``run_collector``), never across threads or processes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connections, transaction
from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now

from triggers.leasing import Lease

from .conf import collectors_setting
from .state import fence
from .state.base import CollectorBusyError, LockLostError

logger = logging.getLogger(__name__)

#: Seconds a lease lasts without a heartbeat; the heartbeat renews it every third of that.
LEASE_SECONDS = 60.0
MODES = ("wait", "refuse")

_held: dict[str, CollectorLease] = {}
_held_guard = threading.Lock()


def lock_settings(mode: str | None = None, timeout: float | None = None) -> tuple[str, float]:
    """``mode`` and ``timeout``, defaulting to ``STATE_LOCK`` and ``STATE_LOCK_TIMEOUT``."""
    mode = collectors_setting("STATE_LOCK") if mode is None else mode
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"COLLECTORS['STATE_LOCK'] (or the lock mode given) is {mode!r}; use 'wait' or 'refuse'"
        )
    timeout = collectors_setting("STATE_LOCK_TIMEOUT") if timeout is None else timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ImproperlyConfigured(
            f"COLLECTORS['STATE_LOCK_TIMEOUT'] (or the lock timeout given) is {timeout!r}; "
            f"use a number of seconds, at least 0"
        )
    return mode, float(timeout)


def _expiry(seconds: float) -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


def new_owner() -> str:
    """Who holds a lock: host, process and a random part (two locks of one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lock_holder(name: str) -> dict[str, Any] | None:
    """The current row of ``name``'s lock (owner, acquired, expires), if any."""
    from .models import CollectorLock

    row = CollectorLock.objects.filter(key=name).values("owner", "acquired", "expires").first()
    return dict(row) if row is not None else None


def held_lease(name: str) -> CollectorLease | None:
    """The lease this process holds on ``name``, if any (saves check it is still valid)."""
    with _held_guard:
        return _held.get(name)


class CollectorLease(Lease):
    """The lock of collector ``name``; use ``with collector_lock(name):``."""

    def __init__(
        self, name: str, mode: str = "wait", timeout: float = 300.0, lease: float = LEASE_SECONDS
    ) -> None:
        super().__init__(lease)
        self.name = name
        self.mode = mode
        self.timeout = timeout
        self.owner = new_owner()
        #: This holding's fence: a new token every time the lease is taken.
        self.token: fence.RunToken | None = None
        self._depth = 0
        self._thread = 0
        self._entered: CollectorLease = self

    @property
    def lease(self) -> float:
        """Seconds the lease lasts without a heartbeat (``ttl``, under its older name)."""
        return self.ttl

    # -- the row: what the lease base takes, renews, releases and sees alive ------------------
    def _take(self) -> bool:
        """Insert the row, or take it over if its lease expired."""
        from .models import CollectorLock

        fields = {"owner": self.owner, "acquired": Now(), "expires": _expiry(self.ttl)}
        if not CollectorLock.objects.filter(key=self.name).exists():
            try:
                with transaction.atomic():
                    CollectorLock.objects.create(key=self.name, **fields)
            except IntegrityError:
                return False  # another run inserted it first
            return True
        return bool(CollectorLock.objects.filter(key=self.name, expires__lt=Now()).update(**fields))

    def _renew(self) -> bool:
        from .models import CollectorLock

        rows = CollectorLock.objects.filter(key=self.name, owner=self.owner)
        return bool(rows.update(expires=_expiry(self.ttl)))

    def _release(self) -> None:
        from .models import CollectorLock

        CollectorLock.objects.filter(key=self.name, owner=self.owner).delete()

    def _alive(self) -> bool:
        from .models import CollectorLock

        return CollectorLock.objects.filter(key=self.name, expires__gte=Now()).exists()

    # -- acquiring --------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """One attempt: insert the row, or take it over if its lease expired."""
        return self.take()

    def acquire(self) -> CollectorLease:
        """Take the lock (waiting up to ``timeout`` in ``wait`` mode) or ``CollectorBusyError``."""
        current = held_lease(self.name)
        if current is not None and current._reentrant():
            current._depth += 1  # re-entered by the thread that holds it
            return current
        if self.token is not None:
            self.owner = new_owner()  # taken again: a new run, a new token
        started = time.monotonic()
        pause = 0.05
        while not self.try_acquire():
            waited = time.monotonic() - started
            if self.mode == "refuse" or waited >= self.timeout:
                holder = lock_holder(self.name) or {}
                raise CollectorBusyError(
                    self.name, holder.get("owner", ""), holder.get("expires"), waited
                )
            time.sleep(min(pause, self.timeout - waited))
            pause = min(pause * 2, 1.0)
        self._depth = 1
        self._thread = threading.get_ident()
        self.token = fence.RunToken(self.name, self.owner)
        with _held_guard:
            _held[self.name] = self
        fence.push(self.token)  # inherited by the threads that run this run's calls
        # A renewal that fails (the database is away) is logged and tried again at the next
        # beat; saves check the deadline meanwhile. The thread closes its own connections.
        self.start_heartbeat(
            f"collector lock {self.name}", finish=connections.close_all, logger=logger
        )
        return self

    def _reentrant(self) -> bool:
        """Held by the calling thread, and still alive (its heartbeat runs)."""
        beating = self.heartbeat is not None and self.heartbeat.is_alive()
        return self._depth > 0 and beating and self._thread == threading.get_ident()

    # -- holding ----------------------------------------------------------------------------
    def renew(self) -> bool:
        """Extend the row's lease (the heartbeat calls this); False once another run has it."""
        if super().renew():
            return True
        logger.error("collector %r: its lock was taken over by another run", self.name)
        return False

    def check(self, token: fence.RunToken | None = None) -> None:
        """``LockLostError`` unless the lease is surely still held for ``token`` (by default
        the current holding's): a run that ended, or lost its lease, writes nothing."""
        token = token or self.token
        if token is None or token.ended is not None or token is not self.token:
            owner = token.owner if token else "none"
            raise fence.RunEndedError(
                f"collector {self.name!r}: the run with token {owner} has ended; "
                f"its write is refused"
            )
        if self.lost:
            raise LockLostError(
                f"collector {self.name!r}: another run took over its lock; this run's save is "
                f"refused so the two never interleave"
            )
        if not self.valid():
            raise LockLostError(
                f"collector {self.name!r}: its lock could not be renewed for {self.ttl:g}s "
                f"(database unreachable?); this run's save is refused"
            )

    @contextmanager
    def fenced_write(self, token: fence.RunToken | None = None) -> Iterator[None]:
        """Run the block (a write) only while the lock's row has ``token``'s owner: checked in
        the database and the row held for the block (one transaction with a ``db`` store)."""
        from .models import CollectorLock

        fence.check_open(f"collector {self.name!r}: a write")
        self.check(token)
        owner = (token or self.token).owner  # type: ignore[union-attr]
        with transaction.atomic():
            rows = CollectorLock.objects.select_for_update().filter(key=self.name, owner=owner)
            if not rows.exists():
                self.lost = True
                raise LockLostError(
                    f"collector {self.name!r}: its lock is no longer held by the run with token "
                    f"{owner}; this run's write is refused"
                )
            yield

    @property
    def held(self) -> bool:
        return self._depth > 0

    # -- releasing --------------------------------------------------------------------------
    def release(self) -> None:
        """Leave the lock (the outermost holding deletes the row)."""
        if self._depth > 1:
            self._depth -= 1
            return
        self._depth = 0
        if self.token is not None:
            self.token.ended = "has ended"
            fence.pop(self.token)
        self.stop_heartbeat()
        with _held_guard:
            if _held.get(self.name) is self:
                del _held[self.name]
        super().release()  # the heartbeat has stopped already; deletes the row

    def __enter__(self) -> CollectorLease:
        self._entered = self.acquire()  # self, or this thread's lease already held
        return self._entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._entered.release()

    def __repr__(self) -> str:
        return f"<CollectorLease {self.name!r} {self.owner} held={self.held}>"


def collector_lock(
    name: str,
    mode: str | None = None,
    timeout: float | None = None,
    lease: float = LEASE_SECONDS,
) -> CollectorLease:
    """The lock of collector ``name``: ``with collector_lock(name): ...`` runs it alone.

    ``mode`` (``wait`` / ``refuse``) and ``timeout`` default to ``STATE_LOCK`` and
    ``STATE_LOCK_TIMEOUT``; ``CollectorBusyError`` when it is not had.
    """
    mode, timeout = lock_settings(mode, timeout)
    return CollectorLease(name, mode, timeout, lease)

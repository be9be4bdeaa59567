"""One lease base for both apps: a claim that lasts ``ttl`` seconds unless it is renewed.

A process proves that it is still doing something (running a trigger instance, running a
collector, holding a collector's lock) by holding a lease: it takes the lease, a heartbeat
renews it every third of its ``ttl``, and it releases it when done. A process that dies stops
renewing; once ``ttl`` has passed, whoever looks sees the lease dead (``alive()`` is False) and
may take it over, or repair what it covered.

Where a lease lives is a subclass's business: it implements ``_take``, ``_renew``, ``_release``
and ``_alive`` (``RedisKeyLease`` below: one Redis key, the trigger-instance and collector-run
leases of ``triggers.rq.lease``; ``collector_app.leases.CollectorLease``: a database row). This
base does the rest the same way for all of them: the ``Heartbeat`` thread, the ``lost`` flag
once a renewal finds the lease taken over, and ``valid()``, the local deadline up to which the
holder may trust the lease without asking the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Heartbeat", "Lease", "RedisKeyLease"]

#: Where a lease that could not be taken is reported (the name these warnings always had).
logger = logging.getLogger("triggers.watch")


class Heartbeat:
    """Calls ``beat`` every ``interval`` seconds in a daemon thread, until ``stop()`` or until
    ``beat`` returns ``False``.

    A failing beat never ends the heartbeat: the store may be back by the next one. The error is
    logged on ``logger`` (nothing is logged without one). ``finish`` runs in the thread when it
    ends, e.g. to close the database connections the thread opened.
    """

    def __init__(
        self,
        beat: Callable[[], bool | None],
        interval: float,
        name: str = "heartbeat",
        *,
        finish: Callable[[], Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(
                f"a heartbeat beats every positive number of seconds, not {interval!r}"
            )
        self.beat = beat
        self.interval = float(interval)
        self.name = name
        self.finish = finish
        self.logger = logger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if self.beat() is False:
                        return
                except Exception:
                    if self.logger is not None:
                        self.logger.exception("%s: a beat failed; trying again", self.name)
        finally:
            if self.finish is not None:
                self.finish()

    def stop(self) -> None:
        """No more beats; returns once the thread has ended (at once if it never started)."""
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end by itself (its beat returned False)."""
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class Lease:
    """A claim that lasts ``ttl`` seconds unless renewed: ``take``, ``renew``, ``release``,
    ``alive``; ``start_heartbeat`` keeps it renewed while the holder works."""

    #: Share of ``ttl``, counted from when a take or renewal was sent, during which the holder
    #: trusts the lease without asking the store (round trips and clock skew eat the rest).
    TRUST = 0.9

    def __init__(self, ttl: float) -> None:
        if not ttl > 0:
            raise ValueError(f"a lease lasts a positive number of seconds, not {ttl!r}")
        self.ttl = float(ttl)
        #: A renewal found the lease gone or someone else's: whatever it covered is not ours.
        self.lost = False
        self.heartbeat: Heartbeat | None = None
        self._valid_until = 0.0

    @property
    def interval(self) -> float:
        """Seconds between two renewals: a third of ``ttl`` (two may fail before it lapses)."""
        return self.ttl / 3

    def take(self) -> bool:
        """One attempt to take the lease; False when someone else holds it."""
        started = time.monotonic()
        if not self._take():
            return False
        self.lost = False
        self._valid_until = started + self.ttl * self.TRUST
        return True

    def renew(self) -> bool:
        """Extend the lease by ``ttl``; False (and ``lost``) when it was no longer ours."""
        started = time.monotonic()
        if not self._renew():
            self.lost = True
            return False
        self._valid_until = started + self.ttl * self.TRUST
        return True

    def release(self) -> None:
        """Stop the heartbeat and give the lease up."""
        self.stop_heartbeat()
        self._valid_until = 0.0
        self._release()

    def alive(self) -> bool:
        """Whether the store says the lease is held (taken, and not expired), by anyone."""
        return self._alive()

    def valid(self) -> bool:
        """Whether this holder surely still holds it: not lost, and renewed recently enough."""
        return not self.lost and time.monotonic() <= self._valid_until

    def start_heartbeat(
        self,
        name: str = "lease heartbeat",
        *,
        finish: Callable[[], Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> Heartbeat:
        """Renew the lease every ``interval`` seconds until ``release`` or until it is lost."""
        self.stop_heartbeat()
        self.heartbeat = Heartbeat(self.renew, self.interval, name, finish=finish, logger=logger)
        return self.heartbeat.start()

    def stop_heartbeat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()

    # -- where the lease lives: a subclass implements these --------------------------------
    def _take(self) -> bool:
        raise NotImplementedError

    def _renew(self) -> bool:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def _alive(self) -> bool:
        raise NotImplementedError


class RedisKeyLease(Lease):
    """A lease that is one Redis key with an expiry: alive while the key exists.

    Nobody competes for these leases (one process runs one instance or one run), so taking and
    renewing both set the key: a key that expired while its holder still works is set again.
    With ``connection=None`` (no Redis configured) it holds nothing and is never alive.
    """

    #: ``release`` deletes the key; a subclass whose leases may simply expire saves that trip.
    DELETE_ON_RELEASE = True

    def __init__(self, connection: Any | None, key: str, ttl: float) -> None:
        super().__init__(ttl)
        self.connection = connection
        self.key = key

    def hold(self, name: str = "lease heartbeat") -> None:
        """Take the lease now and keep it renewed until ``release``. A Redis error never stops
        the work the lease covers: it is logged and the heartbeat tries again."""
        if self.connection is None:
            return
        try:
            self.take()
        except Exception as exc:
            logger.warning(
                "lease %s not taken (%s: %s); retrying", self.key, type(exc).__name__, exc
            )
        self.start_heartbeat(name)

    def _set(self) -> bool:
        if self.connection is not None:
            self.connection.set(self.key, "1", px=max(1, int(self.ttl * 1000)))
        return True

    def _take(self) -> bool:
        return self._set()

    def _renew(self) -> bool:
        return self._set()

    def _release(self) -> None:
        if self.DELETE_ON_RELEASE and self.connection is not None:
            self.connection.delete(self.key)

    def _alive(self) -> bool:
        return self.connection is not None and bool(self.connection.exists(self.key))

"""One gather at a time per collection, on any database and across machines.

Built on the collectors' lease lock (``collector_app.leases``: a ``CollectorLock`` row,
a heartbeat while held, taken over only once its lease expired), under the name
``gather:<collection>`` so it never collides with a pipeline's lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..exceptions import CollectorsError
from ..leases import CollectorLease
from ..state.base import CollectorBusyError

if TYPE_CHECKING:
    from .gatherer import Gatherer

PREFIX = "gather:"


class GatherLocked(RuntimeError, CollectorsError):
    """Another gather of the same collection is running (or did not give the lock back)."""


def lock_name(collection: str) -> str:
    return f"{PREFIX}{collection}"


@contextmanager
def collection_lock(gatherer: Gatherer) -> Iterator[CollectorLease]:
    """Hold the collection's lock for the block; ``GatherLocked`` when another gather has it
    (at once with ``lock = "refuse"``, after ``lock_timeout`` seconds with ``"wait"``)."""
    lease = CollectorLease(
        lock_name(gatherer.name),
        mode=gatherer.lock,
        timeout=float(gatherer.lock_timeout),
        lease=float(gatherer.lock_lease),
    )
    try:
        lease.acquire()
    except CollectorBusyError as exc:
        holder = f" (held by {exc.holder})" if exc.holder else ""
        waited = f" after waiting {exc.waited:.1f}s" if gatherer.lock == "wait" else ""
        raise GatherLocked(
            f"collection {gatherer.name!r} is being gathered already{holder}; refused{waited}"
        ) from exc
    try:
        yield lease
    finally:
        lease.release()

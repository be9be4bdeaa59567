"""Looking at and repairing stored states (the ``collector_state`` command and the admin).

Every change made here (a reset, an edit) holds the collector's lock in ``refuse`` mode, so a
repair never lands in the middle of a run: while the collector runs, it is refused with
``CollectorBusyError`` and can be tried again once the run is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from ..leases import collector_lock
from .base import BaseStateStore, CorruptStateError, NoState, StateRecord
from .tagged import to_tagged


def collector_of(record: StateRecord) -> str:
    """The collector name of a record (from its key when the record was unreadable)."""
    return record.collector or record.key.rpartition(":")[0] or record.key


def lock_names(collector: str) -> list[str]:
    """The locks that may guard a state: the collector's own, and its pipeline's.

    A pipeline component's state (``<pipeline>/<component>``) is guarded by the pipeline's
    lock, a trigger task's (``<session>/<task>``) by its own name: take both.
    """
    names = [collector]
    if "/" in collector:
        names.append(collector.rpartition("/")[0])
    return names


@contextmanager
def collector_quiet(collector: str) -> Iterator[None]:
    """Hold every lock of ``collector`` in refuse mode (``CollectorBusyError`` if it runs)."""
    with ExitStack() as stack:
        for name in lock_names(collector):
            stack.enter_context(collector_lock(name, mode="refuse", timeout=0))
        yield


def matching(records: list[StateRecord], target: str) -> list[StateRecord]:
    """Records of ``target``: a key, a collector name, or a pipeline (its components)."""
    return [
        record
        for record in records
        if target in (record.key, collector_of(record))
        or collector_of(record).startswith(f"{target}/")
    ]


def reset_record(store: BaseStateStore, record: StateRecord) -> bool:
    with collector_quiet(collector_of(record)):
        return store.reset(record.key)


def replace_state(store: BaseStateStore, record: StateRecord, state: Any) -> None:
    """Store an edited state over ``record`` (same collector and digest)."""
    with collector_quiet(collector_of(record)):
        store.save(record.key, state, collector_of(record), record.config_digest)


def load_record(store: BaseStateStore, record: StateRecord) -> Any:
    """The stored state; ``CorruptStateError`` naming the collector; ``NoState`` if gone."""
    try:
        return store.load(record.key)
    except CorruptStateError as exc:
        exc.collector = exc.collector or collector_of(record)
        raise


def document(store: BaseStateStore, record: StateRecord) -> dict[str, Any]:
    """A record as JSON for ``collector_state show``: metadata and state, or the error."""
    shown: dict[str, Any] = {
        "collector": collector_of(record),
        "config_digest": record.config_digest,
        "version": record.version,
        "updated": record.updated.isoformat() if record.updated else None,
        "location": record.location,
    }
    try:
        shown["state"] = to_tagged(load_record(store, record))  # datetimes etc. as tags
    except CorruptStateError as exc:
        shown["error"] = str(exc)
    except NoState:
        shown["error"] = "reset meanwhile"
    return shown

"""``SessionIndex``: the session table as an index of every session, whatever its backend.

(Formerly ``triggers.registry``, which stays as an alias of this module.)

A session is registered when it is first configured. Its per-status counts follow every write
that moves instances between statuses:

* ``db`` sessions: in the same transaction as the write;
* ``cache`` sessions on Redis: the write's own Lua script adds the deltas to a Redis hash and
  marks the session pending (no extra round trip); ``flush_pending_counts`` moves them into
  the table, and runs in every recovery pass, before the admin lists sessions, and in the
  commands;
* other backends: one ``UPDATE`` right after their write.

A crash between a backend's write and its count update can leave counts slightly off:
``refresh_summary`` recounts through the backend (the session page does, and so do
``triggers_status`` and ``triggers_purge``).

Every per-status count, kept or recounted, comes from ``count_deltas`` / ``task_count_deltas``
here: a write's ``Changes.status_deltas``, the ``cache`` index's per-task counts (which its Lua
script only adds up), the ``db`` backend's counters, a recount, the admin's and the graph's
per-task counts (a count from nothing is the deltas from an empty session).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import TYPE_CHECKING, Any

from django.db.models import F
from django.utils import timezone

from .types import STATUSES

if TYPE_CHECKING:
    from .models import TriggerSession
    from .storages.base import BaseTriggerStorage
    from .types import TaskInstance

logger = logging.getLogger("triggers.registry")  # the name logging configs already use

#: Instances counted at a time by a recount (``refresh_summary``).
RECOUNT_BATCH = 1000


def task_count_deltas(
    before: Mapping[str, str | None], after: Mapping[str, TaskInstance]
) -> dict[tuple[str, str], int]:
    """How many instances entered (+) or left (-) each ``(status, task)``.

    ``before``: instance name -> the status it had when read (absent or ``None``: new);
    ``after``: instance name -> the instance as written. Zero deltas are left out.
    """
    deltas: dict[tuple[str, str], int] = {}
    for name, inst in after.items():
        was = before.get(name)
        if was == inst.status:
            continue
        if was is not None:
            deltas[was, inst.task_name] = deltas.get((was, inst.task_name), 0) - 1
        deltas[inst.status, inst.task_name] = deltas.get((inst.status, inst.task_name), 0) + 1
    return {key: n for key, n in deltas.items() if n}


def count_deltas(
    before: Mapping[str, str | None], after: Mapping[str, TaskInstance]
) -> dict[str, int]:
    """``task_count_deltas`` summed over tasks: status -> delta (what the session table adds)."""
    deltas: dict[str, int] = {}
    for (status, _task), n in task_count_deltas(before, after).items():
        deltas[status] = deltas.get(status, 0) + n
    return {status: n for status, n in deltas.items() if n}


def task_counts(instances: Iterable[TaskInstance]) -> dict[str, dict[str, int]]:
    """Task name -> status -> number of instances: the deltas from an empty session."""
    counts: dict[str, dict[str, int]] = {}
    for (status, task), n in task_count_deltas({}, {i.name: i for i in instances}).items():
        counts.setdefault(task, {})[status] = n
    return counts


class SessionIndex:
    """One session's row in the session table: its registration and its per-status counts.

    The one place that turns the status changes of a write (``Changes.status_deltas``) into
    counts, so the admin and the commands list sessions without reading their backends.
    """

    def __init__(self, uid: str, storage_name: str) -> None:
        self.uid = uid
        self.storage_name = storage_name

    @classmethod
    def of(cls, storage: BaseTriggerStorage) -> SessionIndex:
        return cls(storage.uid, storage.name)

    @staticmethod
    def field(status: str) -> str:
        """The ``TriggerSession`` field counting instances in ``status``."""
        return f"n_{status}"

    @staticmethod
    def count_updates(deltas: Mapping[str, int]) -> dict[str, Any]:
        """``TriggerSession`` field -> expression adding a write's status deltas (for an
        ``UPDATE``; the ``db`` backend's own write includes it)."""
        return {
            count_field(status): F(count_field(status)) + delta
            for status, delta in deltas.items()
            if delta
        }

    def register(self) -> TriggerSession:
        """The session's row, created on its first configuration."""
        from .models import TriggerSession

        session, created = TriggerSession.objects.get_or_create(
            uid=self.uid, defaults={"storage": self.storage_name}
        )
        if not created and session.storage != self.storage_name:
            logger.warning(
                "session %r is registered with storage %r but was written through %r",
                self.uid,
                session.storage,
                self.storage_name,
            )
        return session

    def add(self, deltas: dict[str, int], storage: BaseTriggerStorage | None = None) -> None:
        """Add a write's status deltas; a session written before it was registered is
        registered and recounted from scratch (through ``storage``)."""
        if not _add_counts(self.uid, deltas):
            refresh_summary(self.register(), storage)

    @staticmethod
    def flush_pending() -> int:
        """Move status counts staged in Redis by ``cache`` sessions into the session table."""
        from .storages.cache import pop_pending_counts

        pending = pop_pending_counts()
        for uid, deltas in pending.items():
            _add_counts(uid, deltas)
        return len(pending)

    @staticmethod
    def recount(
        session: TriggerSession,
        storage: BaseTriggerStorage | None = None,
        instances: Iterable[TaskInstance] | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        """Recount a session's instances per status through its backend.

        ``instances``: the session's instances when the caller has just read them all, so they
        are not read a second time; ``counts``: the per-status counts when the caller has them
        from the backend's status index (the session page), so no instance is read at all.
        """
        SessionIndex.flush_pending()  # so staged deltas are not added on top of the recount
        if counts is not None:
            for status in STATUSES:
                setattr(session, count_field(status), counts.get(status, 0))
            session.save(update_fields=[count_field(status) for status in STATUSES])
            return
        if instances is None:
            instances = storage or storage_of(session)
        # One pass, a batch at a time: a recount of a big session never holds all of it.
        counts = dict.fromkeys(STATUSES, 0)
        failed: list[TaskInstance] = []
        batch: dict[str, TaskInstance] = {}
        for instance in chain(instances, [None]):
            if instance is not None:
                batch[instance.name] = instance
                if instance.status == "failed":
                    failed.append(instance)
            if batch and (instance is None or len(batch) >= RECOUNT_BATCH):
                for status, n in count_deltas({}, batch).items():
                    counts[status] = counts.get(status, 0) + n
                batch = {}
        for status in STATUSES:
            setattr(session, count_field(status), counts[status])
        session.save(update_fields=[count_field(status) for status in STATUSES])
        indexed = {
            line.split(" ", 2)[1]
            for line in session.search_text.splitlines()
            if line.startswith("error ") and line.count(" ") >= 2
        }
        missing = [inst for inst in failed if inst.name not in indexed]
        if missing:
            note_failures(session.uid, missing)


#: Longest ``search_text`` kept per session; the oldest error lines go first.
SEARCH_TEXT_LIMIT = 20_000


def index_search_text(
    uid: str, tasks: Iterable[str] | None = None, errors: Iterable[str] = ()
) -> None:
    """Keep a session's task names (``tasks`` replaces them) and failure lines searchable, so
    the admin finds sessions of every backend by them (``TriggerSession.search_text``)."""
    from .models import TriggerSession

    row = TriggerSession.objects.filter(uid=uid).values_list("search_text", flat=True).first()
    if row is None:
        return
    lines = row.splitlines()
    if tasks is not None:
        kept_tasks = [f"task {name}" for name in tasks]
    else:
        kept_tasks = [line for line in lines if line.startswith("task ")]
    error_lines = [line for line in lines if line.startswith("error ")]
    error_lines += [f"error {' '.join(str(line).split())}"[:500] for line in errors]
    text = "\n".join(kept_tasks + error_lines)
    while len(text) > SEARCH_TEXT_LIMIT and error_lines:
        error_lines.pop(0)
        text = "\n".join(kept_tasks + error_lines)
    if text != row:
        TriggerSession.objects.filter(uid=uid).update(search_text=text[:SEARCH_TEXT_LIMIT])


def note_failures(uid: str, instances: Iterable[TaskInstance | None]) -> None:
    """Index the errors of instances that just failed; the index lagging is never fatal."""
    from django.db import DatabaseError

    lines = [
        f"{inst.name} {inst.metadata.get('exc_type', '')}: {inst.metadata.get('exc_message', '')}"
        for inst in instances
        if inst is not None and inst.status == "failed"
    ]
    if not lines:
        return
    try:
        index_search_text(uid, errors=lines)
    except DatabaseError:
        logger.warning("session %s: its search text could not be updated", uid, exc_info=True)


def _add_counts(uid: str, deltas: dict[str, int]) -> int:
    from .models import TriggerSession

    changes = SessionIndex.count_updates(deltas)
    return TriggerSession.objects.filter(uid=uid).update(**changes, updated=timezone.now())


# -- the functions this module offered as ``triggers.registry`` -------------------------------
count_field = SessionIndex.field
flush_pending_counts = SessionIndex.flush_pending
refresh_summary = SessionIndex.recount


def register_session(uid: str, storage_name: str) -> TriggerSession:
    return SessionIndex(uid, storage_name).register()


def apply_status_deltas(storage: BaseTriggerStorage, deltas: dict[str, int]) -> None:
    SessionIndex.of(storage).add(deltas, storage)


def storage_of(session: TriggerSession) -> BaseTriggerStorage:
    from .storages import get_storage

    return get_storage(session.uid, session.storage)

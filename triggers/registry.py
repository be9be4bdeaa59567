"""The session table as a registry of every session, whatever its storage backend.

A session is registered when it is first configured; after each write that moved instances
between statuses its per-status counts are adjusted in one ``UPDATE`` (no read). Counts of
non-database backends are kept after their own write, so a crash in between can leave them
off by a few: ``refresh_summary`` recounts through the backend (the admin does on each session
page, and ``triggers_status`` does too).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db.models import F
from django.utils import timezone

from .types import STATUSES

if TYPE_CHECKING:
    from .models import TriggerSession
    from .storages.base import BaseTriggerStorage

logger = logging.getLogger("triggers.registry")


def register_session(uid: str, storage_name: str) -> TriggerSession:
    from .models import TriggerSession

    session, created = TriggerSession.objects.get_or_create(
        uid=uid, defaults={"storage": storage_name}
    )
    if not created and session.storage != storage_name:
        logger.warning(
            "session %r is registered with storage %r but was written through %r",
            uid,
            session.storage,
            storage_name,
        )
    return session


def apply_status_deltas(storage: BaseTriggerStorage, deltas: dict[str, int]) -> None:
    from .models import TriggerSession, count_field

    changes = {
        count_field(status): F(count_field(status)) + delta for status, delta in deltas.items()
    }
    updated = TriggerSession.objects.filter(uid=storage.uid).update(
        **changes, updated=timezone.now()
    )
    if not updated:  # written before it was registered: register it and count from scratch
        refresh_summary(register_session(storage.uid, storage.name), storage)


def refresh_summary(session: TriggerSession, storage: BaseTriggerStorage | None = None) -> None:
    """Recount a session's instances per status through its backend."""
    from .models import count_field
    from .storages import get_storage

    storage = storage or get_storage(session.uid, session.storage)
    counts = dict.fromkeys(STATUSES, 0)
    for instance in storage:
        counts[instance.status] = counts.get(instance.status, 0) + 1
    for status in STATUSES:
        setattr(session, count_field(status), counts[status])
    session.save(update_fields=[count_field(status) for status in STATUSES])


def storage_of(session: TriggerSession) -> BaseTriggerStorage:
    from .storages import get_storage

    return get_storage(session.uid, session.storage)

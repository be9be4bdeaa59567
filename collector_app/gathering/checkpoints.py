"""Per-key checkpoints and the collection's last-gather time, kept in ``GatherCheckpoint``.

A checkpoint only moves forward: saving an older value than the stored one keeps the stored
one, so a re-gather of an old window never rewinds a key. The collection's last-gather time is
the row with key ``LAST_GATHER_KEY`` (registered keys cannot take that name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

LAST_GATHER_KEY = "__last_gather__"


@dataclass(frozen=True)
class Checkpoint:
    checkpoint: datetime | None = None
    last_full_sync: datetime | None = None


def load(collection: str) -> dict[str, Checkpoint]:
    """Every stored checkpoint of ``collection`` (the last-gather row included)."""
    from collector_app.models import GatherCheckpoint

    rows = GatherCheckpoint.objects.filter(collection=collection)
    return {row.key: Checkpoint(row.checkpoint, row.last_full_sync) for row in rows}


def advance(
    collection: str,
    key: str,
    checkpoint: datetime | None = None,
    last_full_sync: datetime | None = None,
) -> Checkpoint:
    """Move ``key`` forward to ``checkpoint`` / ``last_full_sync`` (never backward); returns
    what is stored afterwards."""
    from collector_app.models import GatherCheckpoint

    with transaction.atomic():
        row, _ = GatherCheckpoint.objects.select_for_update().get_or_create(
            collection=collection, key=key
        )
        if checkpoint is not None and (row.checkpoint is None or checkpoint > row.checkpoint):
            row.checkpoint = checkpoint
        if last_full_sync is not None and (
            row.last_full_sync is None or last_full_sync > row.last_full_sync
        ):
            row.last_full_sync = last_full_sync
        row.save()
    return Checkpoint(row.checkpoint, row.last_full_sync)

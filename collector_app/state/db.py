"""The ``db`` state store (the default): one ``CollectorState`` row per key.

A save is one ``UPDATE ... SET state = ..., version = version + 1`` in a transaction (an
``INSERT`` the first time), so saving after every update stays cheap and a failure anywhere
in it rolls back to the previous state. Loads read the column as text and decode it here, so
a row whose JSON was damaged outside Django is a ``CorruptStateError``, not a string.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from .base import (
    BaseStateStore,
    CorruptStateError,
    NoState,
    StateRecord,
    decode_state,
    tag_state,
)


def _model():
    from ..models import CollectorState

    return CollectorState


class DatabaseStateStore(BaseStateStore):
    name = "db"

    def __init__(self, using: str | None = None) -> None:
        #: The database alias; ``None`` lets the router choose.
        self.using = using

    def _rows(self):
        model = _model()
        return model.objects.using(self.using) if self.using else model.objects

    def describe(self, key: str) -> str:
        return f"database table {_model()._meta.db_table}, key {key!r}"

    def load(self, key: str) -> Any:
        row = (
            self._rows()
            .filter(key=key)
            .annotate(raw=Cast("state", TextField()))
            .values_list("raw", flat=True)
        )
        found = list(row[:1])
        if not found:
            raise NoState(key, self.describe(key))
        raw = found[0]
        if raw is None:
            return None  # a saved None (SQL NULL)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CorruptStateError(key, self.describe(key), f"invalid JSON: {exc}") from None
        return decode_state(data, key, self.describe(key))

    def save(self, key: str, state: Any, collector: str, digest: str) -> None:
        data, _ = tag_state(state, collector)  # InvalidStateError before touching the row
        fields = {"state": data, "collector": collector, "config_digest": digest}
        with transaction.atomic(using=self.using):
            updated = (
                self._rows()
                .filter(key=key)
                .update(version=F("version") + 1, updated=timezone.now(), **fields)
            )
            if updated:
                return
            try:
                with transaction.atomic(using=self.using):
                    self._rows().create(key=key, version=1, **fields)
            except IntegrityError:  # created by another writer meanwhile: update it
                self._rows().filter(key=key).update(
                    version=F("version") + 1, updated=timezone.now(), **fields
                )

    def reset(self, key: str) -> bool:
        deleted, _ = self._rows().filter(key=key).delete()
        return bool(deleted)

    def _record(self, row: dict[str, Any]) -> StateRecord:
        return StateRecord(
            key=row["key"],
            collector=row["collector"],
            config_digest=row["config_digest"],
            version=row["version"],
            updated=row["updated"],
            location=self.describe(row["key"]),
        )

    _FIELDS = ("key", "collector", "config_digest", "version", "updated")

    def list(self) -> builtins.list[StateRecord]:
        rows = self._rows().order_by("collector", "key").values(*self._FIELDS)
        return [self._record(row) for row in rows]

    def info(self, key: str) -> StateRecord | None:
        row = self._rows().filter(key=key).values(*self._FIELDS).first()
        return self._record(row) if row else None

"""Trigger storage backends, found by short name (see ``get_storage``)."""

from __future__ import annotations

from typing import Any

from ..conf import triggers_setting
from ..plugins import ClassRegistry, resolve_class
from .base import MAX_UID_LENGTH, BaseTriggerStorage, check_uid

BUILTIN_STORAGES: dict[str, str] = {
    "cache": "triggers.storages.cache.CacheStorageBackend",
    "db": "triggers.storages.db.DatabaseStorageBackend",
}


#: The triggers framework's registry: ``storage_backends.get("cache", uid=...)``.
storage_backends = ClassRegistry("storage", "triggers.storages", BUILTIN_STORAGES)


def get_storage_class(name: str | None = None) -> type[BaseTriggerStorage]:
    """The class behind a storage name (``TRIGGERS["DEFAULT_STORAGE"]`` when ``None``)."""
    cls = resolve_class(
        "storage",
        "triggers.storages",
        BUILTIN_STORAGES,
        name or triggers_setting("DEFAULT_STORAGE"),
    )
    if not (isinstance(cls, type) and issubclass(cls, BaseTriggerStorage)):
        raise TypeError(f"storage {name!r} resolves to {cls!r}, not a BaseTriggerStorage subclass")
    return cls


def get_storage(uid: str, name: str | None = None, **options: Any) -> BaseTriggerStorage:
    """A storage for session ``uid``; jobs and commands rebuild storages from names this way.

    The uid is checked here too, for third-party backends whose ``__init__`` skips the base's.
    """
    check_uid(uid)
    return get_storage_class(name)(uid, **options)


__all__ = [
    "BUILTIN_STORAGES",
    "MAX_UID_LENGTH",
    "BaseTriggerStorage",
    "check_uid",
    "get_storage",
    "get_storage_class",
    "storage_backends",
]

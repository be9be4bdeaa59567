"""The ``TRIGGERS`` settings dict, read lazily so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Storage used when none is named: a short name, entry-point name or dotted path.
    "DEFAULT_STORAGE": "cache",
    # Runner used by tasks without a ``using`` directive.
    "DEFAULT_RUNNER": "sync",
    # Django cache alias behind the ``cache`` storage backend.
    "CACHE_ALIAS": "default",
    # Seconds a session lock lives before another writer may take it (writes stay fenced).
    "LOCK_TIMEOUT": 30.0,
    # Seconds a writer waits for a session lock before giving up.
    "LOCK_WAIT": 60.0,
    # How many times an operation is retried after its write was refused as stale.
    "MAX_ATTEMPTS": 10,
    # Allow process-local caches (locmem, file, dummy) for trigger storage (tests, scripts).
    "SINGLE_PROCESS": False,
    # Extra task names: {"name": "dotted.path"}.
    "TASKS": {},
}


def triggers_setting(name: str) -> Any:
    configured = getattr(settings, "TRIGGERS", {}) or {}
    if name in configured:
        return configured[name]
    return DEFAULTS[name]

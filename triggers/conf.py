"""The ``TRIGGERS`` settings dict, read lazily so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Storage used when none is named: a short name, entry-point name or dotted path.
    "DEFAULT_STORAGE": "cache",
    # Runner used by tasks without a ``using`` directive.
    "DEFAULT_RUNNER": "rq",
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
    # Most instances one task of a session may have (bounds self-feeding ``andEvery`` loops).
    "MAX_INSTANCES_PER_TASK": 100_000,
    # Extra task names: {"name": "dotted.path"}.
    "TASKS": {},
    # The manager class that jobs and commands build (a subclass keeps its hooks everywhere).
    "MANAGER_CLASS": "triggers.manager.TriggerManager",
    # The (inactive, password-less) user that commands write their admin log entries as.
    "AUDIT_USERNAME": "triggers-commands",
    # -- the ``rq`` runner ------------------------------------------------------------------
    # django-rq queue for tasks without a ``queue`` directive.
    "RQ_QUEUE": "default",
    # Seconds a job may run before RQ stops it (the instance then fails).
    "RQ_JOB_TIMEOUT": 600,
    # Seconds RQ keeps a finished job's record (0: none; the outcome lives on the instance),
    # and a failed job's.
    "RQ_RESULT_TTL": 0,
    "RQ_FAILURE_TTL": 7 * 24 * 3600,
    # -- crash recovery ---------------------------------------------------------------------
    # Seconds a running instance's heartbeat lease lives; it is renewed every third of that.
    "LEASE_TIMEOUT": 30.0,
    # Seconds between recovery passes run by each worker (``triggers.worker`` classes).
    "RECOVERY_INTERVAL": 60.0,
    # Seconds a scheduled instance may lack its job before recovery enqueues it again.
    "RECOVERY_GRACE": 30.0,
    # Most watch-list entries (and most database rows in flight) one recovery pass reads;
    # the oldest first, the next pass takes the rest.
    "RECOVERY_BATCH": 1000,
    # Times recovery re-enqueues one instance before it marks it failed instead.
    "RECOVERY_MAX_REQUEUES": 5,
}


def triggers_setting(name: str) -> Any:
    configured = getattr(settings, "TRIGGERS", {}) or {}
    if name in configured:
        return configured[name]
    return DEFAULTS[name]

"""System checks for settings that would make trigger sessions lose updates."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from .conf import DEFAULTS, triggers_setting

PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache": "locmem",
    "django.core.cache.backends.dummy.DummyCache": "dummy",
    "django.core.cache.backends.filebased.FileBasedCache": "file",
}
FENCED_CACHES = {
    "django.core.cache.backends.redis.RedisCache",
    "django_redis.cache.RedisCache",
}


@register(Tags.caches, Tags.compatibility)
def check_trigger_settings(app_configs: Any = None, **kwargs: Any) -> list:
    messages: list = []
    configured = getattr(settings, "TRIGGERS", {}) or {}
    if not isinstance(configured, dict):
        return [Error("settings.TRIGGERS must be a dict.", id="triggers.E003")]
    unknown = sorted(set(configured) - set(DEFAULTS))
    if unknown:
        messages.append(
            Error(
                f"settings.TRIGGERS has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="triggers.E002",
            )
        )
    queues = getattr(settings, "RQ_QUEUES", None) or {}
    if triggers_setting("RQ_QUEUE") not in queues:
        messages.append(
            Error(
                f"TRIGGERS['RQ_QUEUE'] is {triggers_setting('RQ_QUEUE')!r}, which is not in "
                f"settings.RQ_QUEUES ({', '.join(sorted(queues)) or 'none'}).",
                hint="The rq runner enqueues there, and keeps its watch list on its Redis.",
                id="triggers.E005",
            )
        )
    if triggers_setting("DEFAULT_STORAGE") != "cache":
        return messages
    alias = triggers_setting("CACHE_ALIAS")
    cache_settings = settings.CACHES.get(alias)
    if cache_settings is None:
        messages.append(
            Error(
                f"TRIGGERS['CACHE_ALIAS'] is {alias!r}, which is not in settings.CACHES.",
                id="triggers.E004",
            )
        )
        return messages
    backend = cache_settings.get("BACKEND", "")
    if backend in PROCESS_LOCAL_CACHES and not triggers_setting("SINGLE_PROCESS"):
        kind = PROCESS_LOCAL_CACHES[backend]
        messages.append(
            Error(
                f"The trigger storage cache {alias!r} uses the {kind} backend, which each "
                f"process keeps to itself (or, for dummy, not at all): workers and web "
                f"processes would each see a different session, and updates would be lost.",
                hint=(
                    "Use a shared cache (Redis), or set TRIGGERS['SINGLE_PROCESS'] = True if "
                    "only one process ever touches trigger sessions (tests, scripts)."
                ),
                id="triggers.E001",
            )
        )
    elif backend not in PROCESS_LOCAL_CACHES and backend not in FENCED_CACHES:
        messages.append(
            Warning(
                f"The trigger storage cache {alias!r} ({backend}) cannot check the session "
                f"lock and write in one atomic step; a writer that stalls past "
                f"TRIGGERS['LOCK_TIMEOUT'] could overwrite newer state.",
                hint="Use Django's RedisCache (or django-redis) for trigger storage.",
                id="triggers.W001",
            )
        )
    return messages

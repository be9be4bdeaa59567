"""One Redis URL for the Django cache and django-rq's queues, Redis Sentinel included.

``cache_settings(url)`` gives a ``CACHES`` entry (Django's own ``RedisCache``) and
``queue_settings(url)`` an ``RQ_QUEUES`` entry, so a project switches both between one Redis
and a Sentinel-managed one by changing the URL alone:

* ``redis://...``, ``rediss://...``, ``unix://...``: passed through unchanged;
* ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``: the sentinels
  to ask, the name of the monitored primary (``sentinel monitor <service> ...``) and the
  database number (0 when omitted). The password is the Redis servers' one; sentinels are
  asked without one.

This module imports neither Django nor the apps, so settings modules can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEME = "redis+sentinel"
DJANGO_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


@dataclass(frozen=True)
class SentinelURL:
    """What a ``redis+sentinel://`` URL says."""

    sentinels: list[tuple[str, int]]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0].lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelURL:
    """Read a ``redis+sentinel://`` URL; ``ValueError`` naming the part that is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL: {scheme or url!r}")
    if "?" in rest or "#" in rest:
        raise ValueError(f"{SENTINEL_SCHEME} URL: query strings and fragments are not supported")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        hosts, userinfo = netloc, ""
    username, _, password = userinfo.partition(":")
    sentinels = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(
                f"{SENTINEL_SCHEME} URL: sentinel {item.strip()!r} is not host:port "
                "(list several as host1:26379,host2:26379)"
            )
        sentinels.append((host.strip("[]"), int(port)))
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError(
            f"{SENTINEL_SCHEME} URL: the path must be /<service name>[/<db>], not /{path}"
        )
    if len(parts) == 2 and not parts[1].isdigit():
        raise ValueError(f"{SENTINEL_SCHEME} URL: database {parts[1]!r} is not a number")
    return SentinelURL(
        sentinels=sentinels,
        service_name=parts[0],
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def cache_settings(url: str, **extra: Any) -> dict[str, Any]:
    """A ``CACHES`` entry on ``url`` (Django's ``RedisCache``); ``extra`` keys are added."""
    if not is_sentinel_url(url):
        return {"BACKEND": DJANGO_REDIS_CACHE, "LOCATION": url, **extra}
    parse_sentinel_url(url)  # a bad URL fails in settings, not on the first cache call
    options = {"pool_class": "triggers.redis_config.SentinelPool", **extra.pop("OPTIONS", {})}
    # A list: Django splits a LOCATION string on commas, which separate the sentinels here.
    return {"BACKEND": DJANGO_REDIS_CACHE, "LOCATION": [url], "OPTIONS": options, **extra}


def queue_settings(url: str, **extra: Any) -> dict[str, Any]:
    """An ``RQ_QUEUES`` entry on ``url`` (django-rq's ``SENTINELS`` form for Sentinel)."""
    if not is_sentinel_url(url):
        return {"URL": url, **extra}
    parsed = parse_sentinel_url(url)
    return {
        "SENTINELS": parsed.sentinels,
        "MASTER_NAME": parsed.service_name,
        "DB": parsed.db,
        "USERNAME": parsed.username,
        "PASSWORD": parsed.password,
        **extra,
    }


class SentinelPool(SentinelConnectionPool):
    """The cache's connection pool: connections to whichever server the sentinels say is the
    primary now (after a failover, the next connection goes to the promoted replica)."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SentinelPool:
        parsed = parse_sentinel_url(url)
        sentinel = Sentinel(parsed.sentinels)
        return cls(
            parsed.service_name,
            sentinel,
            db=parsed.db,
            username=parsed.username,
            password=parsed.password,
            **options,
        )

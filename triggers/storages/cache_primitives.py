"""Key-value primitives behind the ``cache`` storage: fenced writes on a Django cache.

On Redis (Django's ``RedisCache`` or django-redis) the lock check and the write happen in one
Lua script, so a writer whose lock expired while it stalled can never overwrite newer state. On
process-local caches (locmem, for single-process tests) a process lock makes the check and the
write atomic. Other caches (memcached, database) get a check-then-write, which leaves a window;
the ``triggers.W001`` system check says so.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from .cache_index_scripts import INDEX_WRITE_LUA

# KEYS: lock, n value keys, then (optionally) a counts hash, a set of pending counts and the
# status index's keys (chunks, counts, logs, marker, then its chunks; see ``cache_index``).
# ARGV: token, n, n values, then (optionally) the set member ('' for no counts), the index's
# operations as JSON ('' for none) and status/delta pairs.
_WRITE_AND_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('SET', KEYS[i + 1], ARGV[i + 2]) end
if #KEYS > n + 1 then
  local member, ops_text = ARGV[n + 3], ARGV[n + 4]
  if member ~= '' then
    for i = n + 5, #ARGV, 2 do redis.call('HINCRBY', KEYS[n + 2], ARGV[i], ARGV[i + 1]) end
    redis.call('SADD', KEYS[n + 3], member)
  end
  if ops_text ~= '' then
--INDEX--
  end
end
redis.call('DEL', KEYS[1])
return 1
"""

_WRITE_AND_RELEASE = _WRITE_AND_RELEASE.replace("--INDEX--\n", INDEX_WRITE_LUA)

_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('SET', KEYS[i + 1], ARGV[i + 2]) end
if #KEYS > n + 1 then
  local counts, pending = KEYS[n + 2], KEYS[n + 3]
  for i = n + 4, #ARGV, 2 do redis.call('HINCRBY', counts, ARGV[i], ARGV[i + 1]) end
  redis.call('SADD', pending, ARGV[n + 3])
end
redis.call('DEL', KEYS[1])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class CacheKV:
    """Generic Django cache API; atomic only where the cache lives in this process."""

    atomic = False

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache
        self._guard = threading.Lock() if isinstance(cache, LocMemCache) else None
        self.atomic = self._guard is not None

    def get_many(self, keys: list[str]) -> dict[str, str]:
        return self.cache.get_many(keys) if keys else {}

    def delete_many(self, keys: list[str]) -> None:
        self.cache.delete_many(keys)

    def acquire(self, key: str, token: str, ttl: float) -> bool:
        timeout: float = ttl if self._guard is not None else math.ceil(ttl)
        return bool(self.cache.add(key, token, timeout=timeout))

    def release(self, key: str, token: str) -> None:
        if self._guard is not None:
            with self._guard:
                if self.cache.get(key) == token:
                    self.cache.delete(key)
        elif self.cache.get(key) == token:
            self.cache.delete(key)

    def write_and_release(self, lock_key: str, token: str, values: dict[str, str]) -> bool:
        """Write ``values`` and release the lock, if the lock is still ``token``'s."""
        if self._guard is not None:
            with self._guard:
                return self._check_and_write(lock_key, token, values)
        return self._check_and_write(lock_key, token, values)

    def _check_and_write(self, lock_key: str, token: str, values: dict[str, str]) -> bool:
        if self.cache.get(lock_key) != token:
            return False
        self.cache.set_many(values, timeout=None)
        self.cache.delete(lock_key)
        return True


class RedisKV:
    """Raw Redis commands on the cache's own server; values are JSON strings, never pickles."""

    atomic = True

    def __init__(self, cache: BaseCache, client: Any) -> None:
        self.cache = cache
        self.client = client
        self._write_script = client.register_script(_WRITE_AND_RELEASE)
        self._release_script = client.register_script(_RELEASE)
        self._finish_script: Any = None
        self._claim_script: Any = None

    def claim(self, keys: list[str], args: list[Any]) -> Any:
        """Run the claim script of ``cache_claim`` (raw keys); its answer, as Redis gave it."""
        if self._claim_script is None:
            from .cache_claim import _CLAIM

            self._claim_script = self.client.register_script(_CLAIM)
        return self._claim_script(keys=keys, args=args)

    def get_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        values = self.client.mget([self._key(key) for key in keys])
        return {
            key: value.decode() if isinstance(value, bytes) else value
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    def _key(self, key: str) -> str:
        # The cache's own key function, so KEY_PREFIX and VERSION keep projects apart.
        return self.cache.make_key(key)

    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(*(self._key(key) for key in keys))

    def acquire(self, key: str, token: str, ttl: float) -> bool:
        return bool(self.client.set(self._key(key), token, nx=True, px=max(1, int(ttl * 1000))))

    def acquire_and_get(
        self, key: str, token: str, ttl: float, keys: list[str]
    ) -> dict[str, str] | None:
        """Take the lock and read ``keys`` in one round trip; ``None`` if the lock is taken.

        Redis runs one connection's commands in order, so the reads happen after the lock is
        ours; when the lock was not ours to take, what was read is thrown away.
        """
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self._key(key), token, nx=True, px=max(1, int(ttl * 1000)))
            pipe.mget([self._key(k) for k in keys])
            locked, values = pipe.execute()
        if not locked:
            return None
        return {
            k: value.decode() if isinstance(value, bytes) else value
            for k, value in zip(keys, values, strict=True)
            if value is not None
        }

    def release(self, key: str, token: str) -> None:
        self._release_script(keys=[self._key(key)], args=[token])

    def raw_key(self, key: str) -> str:
        """The Redis key of cache key ``key`` (with the cache's prefix and version)."""
        return self._key(key)

    def write_and_release(
        self,
        lock_key: str,
        token: str,
        values: dict[str, str],
        counts: tuple[str, str, str, dict[str, int]] | None = None,
        index: tuple[list[str], str] | None = None,
        finish: tuple[list[str], str] | None = None,
    ) -> bool:
        """One script: check the lock is ``token``'s, write ``values``, release the lock.

        ``counts`` (hash key, pending-set key, member, deltas) adds ``deltas`` to the hash and
        the member to the set; ``index`` (its keys, its operations as JSON) updates the status
        index (``triggers.storages.cache_index``); both in the same script. ``finish`` (raw watch
        list and lease keys, the watch-list member): when written, also ``ZREM`` the member and
        delete the lease (``cache_claim.finish_wrapped``).
        """
        keys = [self._key(lock_key), *(self._key(key) for key in values)]
        args: list[Any] = [token, len(values), *values.values()]
        if counts or index:
            hash_key, pending_key, member, deltas = counts or ("-", "-", "", {})
            keys += [self._key(hash_key), self._key(pending_key)]
            index_keys, ops = index or ([], "")
            keys += [self._key(key) for key in index_keys]
            args += [member, ops]
            for status, delta in deltas.items():
                args += [status, delta]
        if finish is not None:
            if self._finish_script is None:
                from .cache_claim import finish_wrapped

                self._finish_script = self.client.register_script(
                    finish_wrapped(_WRITE_AND_RELEASE)
                )
            return bool(self._finish_script(keys=keys + finish[0], args=[*args, finish[1]]))
        return bool(self._write_script(keys=keys, args=args))

    def pop_pending_counts(self, pending_key: str, hash_key_of) -> dict[str, dict[str, int]]:
        """Take every pending member's counts (and forget them), each atomically."""
        popped: dict[str, dict[str, int]] = {}
        for raw in self.client.smembers(self._key(pending_key)):
            member = raw.decode() if isinstance(raw, bytes) else raw
            pipe = self.client.pipeline(transaction=True)
            pipe.hgetall(self._key(hash_key_of(member)))
            pipe.delete(self._key(hash_key_of(member)))
            pipe.srem(self._key(pending_key), member)
            counts = pipe.execute()[0]
            popped[member] = {
                (k.decode() if isinstance(k, bytes) else k): int(v) for k, v in counts.items()
            }
        return {member: counts for member, counts in popped.items() if any(counts.values())}


def redis_client_of(cache: BaseCache) -> Any | None:
    """The primary Redis client behind a Django cache, or ``None`` if it is not Redis."""
    inner = getattr(cache, "_cache", None)
    if (
        inner is not None
        and hasattr(inner, "get_client")
        and type(cache).__module__.startswith("django.core.cache.backends.redis")
    ):
        return inner.get_client(write=True)
    client = getattr(cache, "client", None)  # django-redis
    if client is not None and hasattr(client, "get_client"):
        return client.get_client(write=True)
    return None


def kv_for(cache: BaseCache) -> CacheKV | RedisKV:
    client = redis_client_of(cache)
    return RedisKV(cache, client) if client is not None else CacheKV(cache)

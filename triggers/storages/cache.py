"""The default storage backend: a session kept in the Django cache, record by record.

Keys (under the cache's own prefix): ``triggers:<uid>:configs``, ``:meta``, ``:counts`` (instances
created per task), ``:u:<task>`` (names of the task's unstarted instances), ``:i:<instance>`` (one
instance each) and ``:lock``. Values are JSON and never expire. A fire reads the configs, the
metadata, the counts and the unstarted instances of the tasks it touches, so its cost does not
grow with the instances the session already holds.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote

from django.core.cache import caches

from ..conf import triggers_setting
from ..configuration import dumps
from ..exceptions import CorruptSessionError, SessionLockTimeout, StaleWriteError
from ..types import TaskConfig, TaskInstance, now, task_name_of
from .cache_claim import FinishWatch, claim_args, decode_claimed
from .cache_index import CacheIndex, ops_json
from .cache_primitives import CacheKV, RedisKV, kv_for
from .cache_records import decode_instance, encode_instance
from .record_storage import RecordStorage
from .status_index import StatusSummary
from .working_set import Changes, SessionState


class SessionLock:
    """The lock of one unit of work; on Redis it is taken with the first read (one round trip)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.held = False


class CacheSessionState(SessionState):
    def __init__(self, storage: CacheStorageBackend, lock: SessionLock | None = None) -> None:
        super().__init__(storage.uid)
        self._storage = storage
        self._lock = lock
        #: The session had no instance counter yet when read: its status index starts complete.
        self.fresh_session = False

    def lock_now(self) -> None:
        if self._lock is not None and not self._lock.held:
            self._storage._wait_for_lock(self._lock)

    def _get(self, keys: list[str]) -> dict[str, Any]:
        if self._lock is not None and not self._lock.held:
            raw = self._storage._wait_for_lock(self._lock, keys)
        else:
            raw = self._storage.kv.get_many(keys)
        decoded = {}
        for key, value in raw.items():
            try:
                decoded[key] = json.loads(value)
            except (TypeError, ValueError) as exc:
                raise CorruptSessionError(
                    f"session {self.uid!r}: the record at cache key {key!r} is not JSON ({exc})"
                ) from exc
        return decoded

    def prefetch(
        self,
        names: Iterable[str] = (),
        configs: bool = False,
        metadata: bool = False,
        counts: bool = False,
        unstarted: Iterable[str] = (),
    ) -> None:
        wanted: dict[str, tuple[str, str]] = {}
        if configs and self._configs is None:
            wanted[self._storage.key("configs")] = ("configs", "")
        if metadata and self._metadata is None:
            wanted[self._storage.key("meta")] = ("meta", "")
        if counts and self._counts is None:
            wanted[self._storage.key("counts")] = ("counts", "")
        for task_name in unstarted:
            if task_name not in self._unstarted:
                wanted[self._storage.unstarted_key(task_name)] = ("unstarted", task_name)
        for name in names:
            if name not in self._instances:
                wanted[self._storage.instance_key(name)] = ("instance", name)
        if not wanted:
            return
        found = self._get(list(wanted))
        for key, (kind, name) in wanted.items():
            data = found.get(key)
            if kind == "configs":
                data = data or {}
                self._configs = {
                    task: TaskConfig.from_dict(task, cfg) for task, cfg in data.items()
                }
            elif kind == "meta":
                self._metadata = data or {}
            elif kind == "counts":
                self.fresh_session = data is None
                self._counts = {task: int(n) for task, n in (data or {}).items()}
            elif kind == "unstarted":
                self._unstarted[name] = list(data or [])
            else:
                self._remember(name, self._decode(name, data) if data else None)

    def _decode(self, name: str, data: dict[str, Any]) -> TaskInstance:
        return decode_instance(name, data, self.uid, self._storage.name)

    def fetch_configs(self) -> dict[str, TaskConfig]:
        key = self._storage.key("configs")
        data = self._get([key]).get(key, {})
        return {name: TaskConfig.from_dict(name, cfg) for name, cfg in data.items()}

    def fetch_metadata(self) -> dict[str, Any]:
        key = self._storage.key("meta")
        return self._get([key]).get(key, {})

    def fetch_counts(self) -> dict[str, int]:
        key = self._storage.key("counts")
        found = self._get([key])
        self.fresh_session = key not in found
        return {name: int(n) for name, n in found.get(key, {}).items()}

    def fetch_instances(self, names: list[str]) -> dict[str, TaskInstance]:
        keys = {self._storage.instance_key(name): name for name in names}
        found = self._get(list(keys))
        return {keys[key]: self._decode(keys[key], data) for key, data in found.items()}

    def fetch_unstarted(self, task_name: str) -> list[str]:
        key = self._storage.unstarted_key(task_name)
        return list(self._get([key]).get(key, []))


PENDING_COUNTS_KEY = "triggers:pending-counts"


def pop_pending_counts(cache_alias: str | None = None) -> dict[str, dict[str, int]]:
    """Status deltas written by ``cache`` sessions since the last call, per session uid."""
    storage = CacheStorageBackend("-", cache=cache_alias)
    if not isinstance(storage.kv, RedisKV):
        return {}
    return storage.kv.pop_pending_counts(
        PENDING_COUNTS_KEY, lambda uid: CacheStorageBackend(uid, cache=cache_alias).key("statuses")
    )


class CacheStorageBackend(RecordStorage):
    """Sessions in a Django cache (``TRIGGERS["CACHE_ALIAS"]`` unless ``cache=`` names one)."""

    name: ClassVar[str] = "cache"

    def __init__(
        self,
        uid: str,
        cache: str | None = None,
        lock_timeout: float | None = None,
        lock_wait: float | None = None,
    ) -> None:
        super().__init__(uid)
        self.cache_alias = cache or triggers_setting("CACHE_ALIAS")
        self.cache = caches[self.cache_alias]
        self.kv: CacheKV | RedisKV = kv_for(self.cache)
        self._lock_timeout = lock_timeout
        self._lock_wait = lock_wait
        #: Set by the ``rq`` job (``triggers.rq.jobs``): the write that ends its instance's run
        #: also removes its watch entry and lease (on Redis, in the commit script).
        self.finish_watch: FinishWatch | None = None

    @property
    def lock_timeout(self) -> float:
        return float(self._lock_timeout or triggers_setting("LOCK_TIMEOUT"))

    @property
    def lock_wait(self) -> float:
        return float(self._lock_wait or triggers_setting("LOCK_WAIT"))

    # -- keys -------------------------------------------------------------------------------
    def key(self, part: str) -> str:
        return f"triggers:{quote(self.uid, safe='')}:{part}"

    def instance_key(self, name: str) -> str:
        return self.key(f"i:{quote(name, safe='')}")

    def unstarted_key(self, task_name: str) -> str:
        return self.key(f"u:{quote(task_name, safe='')}")

    def has_data(self) -> bool:
        """A configured session always has its ``configs`` record (``{}`` included)."""
        return bool(self.kv.get_many([self.key("configs")]))

    def delete(self) -> None:
        state = self.snapshot()
        keys = [self.key(part) for part in ("configs", "meta", "counts", "statuses", "lock")]
        task_names = sorted(set(state.counts) | set(state.configs))
        for task_name in task_names:
            keys.append(self.unstarted_key(task_name))
            names = state.instance_names_of_task(task_name)
            keys.extend(self.instance_key(name) for name in names)
        if isinstance(self.kv, RedisKV):
            CacheIndex(self, self.kv).delete(task_names)
        self.kv.delete_many(keys)

    # -- the status index -------------------------------------------------------------------
    def status_summary(self) -> StatusSummary:
        """From the index the commit script keeps (on Redis): no instance is read."""
        if not isinstance(self.kv, RedisKV):
            return super().status_summary()
        return CacheIndex(self, self.kv).summary()

    def instances_page(
        self, offset: int, limit: int, task: str | None = None
    ) -> list[TaskInstance]:
        """The page's names from the index, then only those instances (two round trips)."""
        if not isinstance(self.kv, RedisKV):
            return super().instances_page(offset, limit, task)
        if limit <= 0:
            return []
        names = CacheIndex(self, self.kv).page_names(offset, limit, task)
        snapshot = self.snapshot()
        return self._configured(snapshot, snapshot.instances(names))

    def after_commit(self, changes: Changes) -> None:
        if isinstance(self.kv, RedisKV):
            # Counts were staged in Redis by commit; only a new configuration needs the table.
            changes = Changes(configs=changes.configs)
        super().after_commit(changes)

    # -- the rq job's fast path (cache_claim) ------------------------------------------------
    def claim_scheduled(
        self, name: str, lease_key: str | None = None, lease_ms: int = 0
    ) -> tuple[TaskInstance, TaskConfig] | None:
        """Move ``name`` from ``scheduled`` to ``running`` (and take its lease) in one script.

        ``None`` when the script left it alone (not on Redis, session locked, not scheduled,
        ...): the caller then claims it through ``TriggerManager.start_instance``, which decides.
        """
        if not isinstance(self.kv, RedisKV):
            return None
        task_name = task_name_of(name)
        prepared = claim_args(self, name, task_name, lease_key, lease_ms, now())
        if prepared is None:
            return None
        answer = self.kv.claim(*prepared)
        if not answer or int(answer[0]) != 1:
            return None
        return decode_claimed(self, name, task_name, answer)

    # -- the record-by-record contract -------------------------------------------------------
    def new_state(self) -> SessionState:
        return CacheSessionState(self)

    def new_locked_state(self, token: Any) -> SessionState:
        return CacheSessionState(self, token)

    def take_lock(self) -> SessionLock:
        lock = SessionLock()
        if not isinstance(self.kv, RedisKV):
            self._wait_for_lock(lock)  # no pipelines: take it now, as a plain cache can
        return lock

    def _wait_for_lock(self, lock: SessionLock, keys: list[str] | None = None) -> dict[str, str]:
        """Wait for the session's lock; with ``keys``, read them in the same round trip."""
        key = self.key("lock")
        deadline = time.monotonic() + self.lock_wait
        pause = 0.001
        while True:
            if keys and isinstance(self.kv, RedisKV):
                found = self.kv.acquire_and_get(key, lock.token, self.lock_timeout, keys)
            else:
                found = {} if self.kv.acquire(key, lock.token, self.lock_timeout) else None
                if found is not None and keys:
                    found = self.kv.get_many(keys)
            if found is not None:
                lock.held = True
                return found
            if time.monotonic() > deadline:
                raise SessionLockTimeout(
                    f"session {self.uid!r}: lock not acquired within {self.lock_wait}s"
                )
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.05)

    @contextmanager
    def _lock_session(self) -> Iterator[None]:
        lock = self.take_lock()
        if not lock.held:
            self._wait_for_lock(lock)
        try:
            yield
        finally:
            self.release_lock(lock)

    def release_lock(self, token: Any) -> None:
        if token.held:
            self.kv.release(self.key("lock"), token.token)

    def commit(self, state: SessionState, changes: Changes, token: Any) -> bool:
        if not token.held:
            self._wait_for_lock(token)
        lock_token = token.token
        values: dict[str, str] = {}
        if changes.configs is not None:
            values[self.key("configs")] = dumps(
                {name: cfg.to_dict() for name, cfg in changes.configs.items()}
            )
        if changes.metadata is not None:
            values[self.key("meta")] = dumps(changes.metadata)
        if changes.counts is not None:
            values[self.key("counts")] = dumps(changes.counts)
        for task_name, names in changes.unstarted.items():
            values[self.unstarted_key(task_name)] = dumps(names)
        for name, instance in changes.instances.items():
            values[self.instance_key(name)] = encode_instance(instance, self.uid, self.name)
        if isinstance(self.kv, RedisKV):
            # Per-status counts ride along in the same script, for the session table to pick up
            # later (SessionIndex.flush_pending): no extra round trip per write.
            counts = None
            if changes.status_deltas:
                counts = (self.key("statuses"), PENDING_COUNTS_KEY, self.uid, changes.status_deltas)
            index = None
            if changes.instances:  # the status index, in the same script (cache_index)
                assert isinstance(state, CacheSessionState)
                index_keys, ops = CacheIndex(self, self.kv).write_ops(state, changes)
                index = (index_keys, ops_json(ops))
            finish = self.finish_watch
            if finish is not None and not finish.applies_to(changes.instances):
                finish = None
            extra = (finish.keys, finish.member) if finish is not None else None
            written = self.kv.write_and_release(
                self.key("lock"), lock_token, values, counts, index, extra
            )
            if written and finish is not None:
                finish.done = True
        else:
            written = self.kv.write_and_release(self.key("lock"), lock_token, values)
        if not written:
            raise StaleWriteError(
                f"session {self.uid!r}: the lock expired (LOCK_TIMEOUT={self.lock_timeout}s) "
                f"before this write; it was refused so that newer state is not overwritten"
            )
        return True

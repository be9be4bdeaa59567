"""The status index of ``cache`` sessions on Redis, kept by the commit script itself.

Keys (next to the session's records): ``:x:<task>:<rank>:<chunk>`` (sorted sets of at most
``CHUNK`` instance names: one task's instances of one page rank whose numbers share
``number // CHUNK``, scored by creation time in integer microseconds), ``:xt`` (the set of those
chunks' Redis keys), ``:tc`` (a hash ``<status>:<task>`` -> number of instances) and ``:lg``
(the names of instances with unresolved error logs). Each instance is indexed once, in a sorted
set small enough for Redis's compact encoding (issue 18: ~20 Redis bytes an instance, against
~220 for the first layout's two big sorted sets). A page, of the session or of one task, is one
read-only script (``cache_index_scripts.PAGE_LUA``). ``:xv`` holds ``INDEX_VERSION`` when the
index is complete: sessions stored before the index existed, or indexed in the first layout
(``:x`` and ``:x:<task>``, rank and creation time as float scores), get it built once, under
the session's lock, on their first index read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..session_index import task_count_deltas, task_counts
from ..types import STATUSES, TaskInstance
from .cache_index_scripts import INDEX_VERSION, INDEX_WRITE_LUA, PAGE_LUA
from .status_index import StatusSummary, created_epoch, rank

if TYPE_CHECKING:
    from .cache import CacheSessionState, CacheStorageBackend
    from .cache_primitives import RedisKV
    from .working_set import Changes

__all__ = ["INDEX_VERSION", "INDEX_WRITE_LUA", "CacheIndex", "chunk_of", "ops_json", "score"]

#: Instances a chunk holds at most (Redis keeps sorted sets up to 128 entries compact).
CHUNK = 128
#: Instances per ``ZADD`` when an index is built from the records.
BUILD_CHUNK = 1000
#: Status -> page rank, for the page script.
RANKS_JSON = json.dumps({status: rank(status) for status in STATUSES})


def score(inst: TaskInstance) -> int:
    """The creation time in microseconds since the epoch (0 when unknown)."""
    return round(created_epoch(inst) * 1_000_000)


def chunk_of(name: str) -> str:
    """Instances numbered alike share a chunk; names without a number share chunk ``n``."""
    number = name.rsplit("#", 1)[-1]
    return str(int(number) // CHUNK) if number.isdigit() else "n"


class CacheIndex:
    """Reads, builds and describes the writes of one session's status index."""

    def __init__(self, storage: CacheStorageBackend, kv: RedisKV) -> None:
        self.storage = storage
        self.kv = kv

    # -- keys (cache keys, before the cache's own prefix) ----------------------------------
    @property
    def all_key(self) -> str:
        """Every instance of the session: the first layout's key, only ever deleted now."""
        return self.storage.key("x")

    def task_key(self, task_name: str) -> str:
        """One task's instances: the first layout's key, only ever deleted now."""
        return self.storage.key(f"x:{quote(task_name, safe='')}")

    def chunk_key(self, task_name: str, status: str, name: str) -> str:
        return f"{self.task_key(task_name)}:{rank(status)}:{chunk_of(name)}"

    @property
    def chunks_key(self) -> str:
        return self.storage.key("xt")

    @property
    def counts_key(self) -> str:
        return self.storage.key("tc")

    @property
    def logs_key(self) -> str:
        return self.storage.key("lg")

    @property
    def marker_key(self) -> str:
        return self.storage.key("xv")

    def keys(self, task_names: list[str]) -> list[str]:
        """The index's fixed keys and the first layout's per-task keys (``delete`` drops the
        chunks too)."""
        fixed = [self.all_key, self.chunks_key, self.counts_key, self.logs_key, self.marker_key]
        return fixed + [self.task_key(task) for task in task_names]

    def delete(self, task_names: list[str]) -> None:
        """Every key of the index: its chunks (listed in ``:xt``), then ``keys()``."""
        raw = self.kv.raw_key
        chunks = list(self.kv.client.smembers(raw(self.chunks_key)))
        for start in range(0, len(chunks), BUILD_CHUNK):
            self.kv.client.delete(*chunks[start : start + BUILD_CHUNK])
        self.kv.client.delete(*(raw(key) for key in self.keys(task_names)))

    # -- writes: what the commit script does besides writing records ----------------------
    def write_ops(
        self, state: CacheSessionState, changes: Changes
    ) -> tuple[list[str], dict[str, Any]]:
        """The index keys and the operations (JSON for the script) of one commit."""
        chunk_keys: list[str] = []
        slots: dict[str, int] = {}

        def slot(key: str) -> int:
            if key not in slots:
                chunk_keys.append(key)
                slots[key] = len(chunk_keys)
            return slots[key]

        zadd: list[list[Any]] = []
        logs_add: list[str] = []
        logs_remove: list[str] = []
        before = {name: state.original_status(name) for name in changes.instances}
        for name, inst in changes.instances.items():
            if before[name] != inst.status:
                task = inst.task_name
                was = before[name]
                new = self.chunk_key(task, inst.status, name)
                old = None if was is None else self.chunk_key(task, was, name)
                if old != new:
                    old_slot = 0 if old is None else slot(old)
                    zadd.append([old_slot, slot(new), str(score(inst)), name])
            (logs_add if inst.has_unresolved_logs else logs_remove).append(name)
        counts = task_count_deltas(before, changes.instances)  # the script only adds them up
        ops = {
            "z": zadd,
            "t": [[f"{status}:{task}", delta] for (status, task), delta in counts.items()],
            "la": logs_add,
            "lr": logs_remove,
            "v": 1 if state.fresh_session else 0,
        }
        keys = [self.chunks_key, self.counts_key, self.logs_key, self.marker_key, *chunk_keys]
        return keys, ops

    # -- reads ------------------------------------------------------------------------------
    def summary(self) -> StatusSummary:
        """Per-task counts and the unresolved-logs flag: one round trip."""
        for attempt in range(2):
            with self.kv.client.pipeline(transaction=False) as pipe:
                pipe.get(self.kv.raw_key(self.marker_key))
                pipe.hgetall(self.kv.raw_key(self.counts_key))
                pipe.scard(self.kv.raw_key(self.logs_key))
                version, counts, n_logs = pipe.execute()
            if _text(version) == INDEX_VERSION or attempt:
                break
            self.build()
        summary = StatusSummary(unresolved_logs=bool(n_logs))
        for raw_field, raw_n in counts.items():
            field = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
            status, _, task = field.partition(":")
            if int(raw_n):
                summary.tasks.setdefault(task, {})[status] = int(raw_n)
        return summary

    def page_names(self, offset: int, limit: int, task: str | None = None) -> list[str]:
        """Names of ``limit`` instances from ``offset``, in page order: one round trip."""
        raw = self.kv.raw_key
        keys = [raw(self.marker_key), raw(self.chunks_key), raw(self.counts_key)]
        prefix = "" if task is None else raw(self.task_key(task)) + ":"
        args = [offset, limit, INDEX_VERSION, prefix, task or "", RANKS_JSON]
        script = self.kv.client.register_script(PAGE_LUA)
        names = None
        for attempt in range(2):
            names = script(keys=keys, args=args)
            if names is not None or attempt:
                break
            self.build()
        return [_text(name) for name in names or []]

    def build(self) -> None:
        """Build the index from the records (a session stored before the index existed): reads
        every instance once, under the session's lock so no write slips in between."""
        storage = self.storage
        with storage._lock_session():
            state = storage.new_state()
            instances = state.all_instances()
            tasks = sorted(set(state.counts) | set(state.configs))
            raw = self.kv.raw_key
            self.delete(tasks)
            with self.kv.client.pipeline(transaction=True) as pipe:
                for start in range(0, len(instances), BUILD_CHUNK):
                    chunk = instances[start : start + BUILD_CHUNK]
                    by_chunk: dict[str, dict[str, int]] = {}
                    for inst in chunk:
                        key = raw(self.chunk_key(inst.task_name, inst.status, inst.name))
                        by_chunk.setdefault(key, {})[inst.name] = score(inst)
                    for key, scores in by_chunk.items():
                        pipe.zadd(key, scores)
                    if by_chunk:
                        pipe.sadd(raw(self.chunks_key), *by_chunk)
                counts = {
                    f"{status}:{task}": n
                    for task, per_status in task_counts(instances).items()
                    for status, n in per_status.items()
                }
                if counts:
                    pipe.hset(raw(self.counts_key), mapping=counts)
                unresolved = [inst.name for inst in instances if inst.has_unresolved_logs]
                if unresolved:
                    pipe.sadd(raw(self.logs_key), *unresolved)
                pipe.set(raw(self.marker_key), INDEX_VERSION)
                pipe.execute()


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def ops_json(ops: dict[str, Any]) -> str:
    return json.dumps(ops, separators=(",", ":"))

"""The status index of ``cache`` sessions on Redis, kept by the commit script itself.

Keys (next to the session's records): ``:x`` (a sorted set of every instance name, scored by page
order: status rank * 1e10 + creation time), ``:x:<task>`` (the same, one task's instances),
``:tc`` (a hash ``<status>:<task>`` -> number of instances) and ``:lg`` (the names of instances
with unresolved error logs). ``:xv`` marks a complete index: sessions stored before the index
existed get it built once, under the session's lock, on their first index read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..session_index import task_count_deltas, task_counts
from ..types import TaskInstance
from .status_index import StatusSummary, created_epoch, rank

if TYPE_CHECKING:
    from .cache import CacheSessionState, CacheStorageBackend
    from .cache_primitives import RedisKV
    from .working_set import Changes

#: Scores are rank * RANK_STEP + seconds since the epoch (until the year 2286).
RANK_STEP = 1e10
#: Instances per ``ZADD`` when an index is built from the records.
BUILD_CHUNK = 1000


def score(inst: TaskInstance) -> float:
    return rank(inst.status) * RANK_STEP + created_epoch(inst)


class CacheIndex:
    """Reads, builds and describes the writes of one session's status index."""

    def __init__(self, storage: CacheStorageBackend, kv: RedisKV) -> None:
        self.storage = storage
        self.kv = kv

    # -- keys (cache keys, before the cache's own prefix) ----------------------------------
    @property
    def all_key(self) -> str:
        return self.storage.key("x")

    def task_key(self, task_name: str) -> str:
        return self.storage.key(f"x:{quote(task_name, safe='')}")

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
        """Every key of the index, for ``delete``."""
        fixed = [self.all_key, self.counts_key, self.logs_key, self.marker_key]
        return fixed + [self.task_key(task) for task in task_names]

    # -- writes: what the commit script does besides writing records ----------------------
    def write_ops(
        self, state: CacheSessionState, changes: Changes
    ) -> tuple[list[str], dict[str, Any]]:
        """The index keys and the operations (JSON for the script) of one commit."""
        task_keys: list[str] = []
        slots: dict[str, int] = {}
        zadd: list[list[Any]] = []
        logs_add: list[str] = []
        logs_remove: list[str] = []
        before = {name: state.original_status(name) for name in changes.instances}
        for name, inst in changes.instances.items():
            if before[name] != inst.status:
                task = inst.task_name
                if task not in slots:
                    task_keys.append(self.task_key(task))
                    slots[task] = len(task_keys)
                zadd.append([repr(score(inst)), name, slots[task]])
            (logs_add if inst.has_unresolved_logs else logs_remove).append(name)
        counts = task_count_deltas(before, changes.instances)  # the script only adds them up
        ops = {
            "z": zadd,
            "t": [[f"{status}:{task}", delta] for (status, task), delta in counts.items()],
            "la": logs_add,
            "lr": logs_remove,
            "v": 1 if state.fresh_session else 0,
        }
        keys = [self.all_key, self.counts_key, self.logs_key, self.marker_key, *task_keys]
        return keys, ops

    # -- reads ------------------------------------------------------------------------------
    def summary(self) -> StatusSummary:
        """Per-task counts and the unresolved-logs flag: one round trip."""
        for attempt in range(2):
            with self.kv.client.pipeline(transaction=False) as pipe:
                pipe.exists(self.kv.raw_key(self.marker_key))
                pipe.hgetall(self.kv.raw_key(self.counts_key))
                pipe.scard(self.kv.raw_key(self.logs_key))
                complete, counts, n_logs = pipe.execute()
            if complete or attempt:
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
        key = self.all_key if task is None else self.task_key(task)
        for attempt in range(2):
            with self.kv.client.pipeline(transaction=False) as pipe:
                pipe.exists(self.kv.raw_key(self.marker_key))
                pipe.zrange(self.kv.raw_key(key), offset, offset + limit - 1)
                complete, names = pipe.execute()
            if complete or attempt:
                break
            self.build()
        return [name.decode() if isinstance(name, bytes) else name for name in names]

    def build(self) -> None:
        """Build the index from the records (a session stored before the index existed): reads
        every instance once, under the session's lock so no write slips in between."""
        storage = self.storage
        with storage._lock_session():
            state = storage.new_state()
            instances = state.all_instances()
            tasks = sorted(set(state.counts) | set(state.configs))
            raw = self.kv.raw_key
            with self.kv.client.pipeline(transaction=True) as pipe:
                pipe.delete(*(raw(key) for key in self.keys(tasks)))
                for start in range(0, len(instances), BUILD_CHUNK):
                    chunk = instances[start : start + BUILD_CHUNK]
                    pipe.zadd(raw(self.all_key), {inst.name: score(inst) for inst in chunk})
                    by_task: dict[str, dict[str, float]] = {}
                    for inst in chunk:
                        by_task.setdefault(inst.task_name, {})[inst.name] = score(inst)
                    for task, scores in by_task.items():
                        pipe.zadd(raw(self.task_key(task)), scores)
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
                pipe.set(raw(self.marker_key), "1")
                pipe.execute()


def ops_json(ops: dict[str, Any]) -> str:
    return json.dumps(ops, separators=(",", ":"))

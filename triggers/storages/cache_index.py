"""The status index of ``cache`` sessions on Redis, kept by the commit script itself.

Keys (next to the session's records): ``:x:<task>`` (a sorted set of one task's instance names,
scored by page order: status rank * 1e10 + creation time), ``:xt`` (the set of those sorted
sets' Redis keys), ``:tc`` (a hash ``<status>:<task>`` -> number of instances) and ``:lg`` (the
names of instances with unresolved error logs). A page of the whole session merges the tasks'
sorted sets inside one read-only script (``PAGE_LUA``): each instance is indexed once, not
twice (issue 18: ~110 Redis bytes per instance less). ``:xv`` holds ``INDEX_VERSION`` when the
index is complete: sessions stored before the index existed, or indexed in the first layout
(which also kept ``:x``, every instance of the session), get it built once, under the session's
lock, on their first index read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
#: The value of ``:xv`` once the index is complete in this layout ("1": the first layout).
INDEX_VERSION = "2"

#: The index's part of the commit script (``cache_primitives``): ``n`` values were written,
#: ``ops_text`` holds ``write_ops``' operations; KEYS from ``n + 4``: the ``:xt`` set, ``:tc``,
#: ``:lg``, ``:xv``, then one sorted set per task the commit touches.
INDEX_WRITE_LUA = """
    local ops = cjson.decode(ops_text)
    local tasks, tc, lg = KEYS[n + 4], KEYS[n + 5], KEYS[n + 6]
    for _, z in ipairs(ops.z) do redis.call('ZADD', KEYS[n + 7 + z[3]], z[1], z[2]) end
    for i = n + 8, #KEYS do redis.call('SADD', tasks, KEYS[i]) end
    for _, t in ipairs(ops.t) do
      if redis.call('HINCRBY', tc, t[1], t[2]) == 0 then redis.call('HDEL', tc, t[1]) end
    end
    for _, name in ipairs(ops.la) do redis.call('SADD', lg, name) end
    for _, name in ipairs(ops.lr) do redis.call('SREM', lg, name) end
    if ops.v == 1 then redis.call('SET', KEYS[n + 7], 'VERSION') end
""".replace("VERSION", INDEX_VERSION)

#: One page of names: KEYS ``:xv``, ``:xt`` and (a task's page) that task's sorted set; ARGV
#: offset, limit, INDEX_VERSION. ``false`` when the index is not complete. A page of the whole
#: session: the score below which exactly ``offset`` or fewer instances lie is found by
#: bisection (``ZCOUNT`` per task, about 50 steps), then the tasks' next ``limit`` rows from
#: there are merged. Work grows with the number of tasks and log(instances), not the session.
PAGE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return false end
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local keys
if KEYS[3] then keys = {KEYS[3]} else keys = redis.call('SMEMBERS', KEYS[2]) end
if #keys == 0 then return {} end
if #keys == 1 then return redis.call('ZRANGE', keys[1], offset, offset + limit - 1) end
local function text(x) return string.format('%.17g', x) end
local function below(x)
  local count, bound = 0, '(' .. text(x)
  for _, key in ipairs(keys) do count = count + redis.call('ZCOUNT', key, '-inf', bound) end
  return count
end
local lo, hi
for _, key in ipairs(keys) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local a = tonumber(first[2])
    local b = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    if lo == nil or a < lo then lo = a end
    if hi == nil or b > hi then hi = b end
  end
end
if lo == nil then return {} end
if below(hi) <= offset then lo = hi else
  for _ = 1, 200 do
    local mid = lo + (hi - lo) / 2
    if mid <= lo or mid >= hi then break end
    if below(mid) <= offset then lo = mid else hi = mid end
  end
end
local skip = offset - below(lo)
local rows = {}
for _, key in ipairs(keys) do
  local got = redis.call('ZRANGEBYSCORE', key, text(lo), '+inf', 'WITHSCORES', 'LIMIT', 0,
                         skip + limit)
  for i = 1, #got, 2 do rows[#rows + 1] = {tonumber(got[i + 1]), got[i]} end
end
local function before(a, b)  -- score, then name byte by byte (the sorted sets' own order)
  if a[1] ~= b[1] then return a[1] < b[1] end
  local x, y = a[2], b[2]
  for i = 1, math.min(#x, #y) do
    local p, q = string.byte(x, i), string.byte(y, i)
    if p ~= q then return p < q end
  end
  return #x < #y
end
table.sort(rows, before)
local names = {}
for i = skip + 1, math.min(#rows, skip + limit) do names[#names + 1] = rows[i][2] end
return names
"""


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
        """Every instance of the session: the first layout's key, only ever deleted now."""
        return self.storage.key("x")

    @property
    def tasks_key(self) -> str:
        return self.storage.key("xt")

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
        fixed = [self.all_key, self.tasks_key, self.counts_key, self.logs_key, self.marker_key]
        return fixed + [self.task_key(task) for task in task_names]

    # -- writes: what the commit script does besides writing records ----------------------
    def write_ops(
        self, state: CacheSessionState, changes: Changes
    ) -> tuple[list[str], dict[str, Any]]:
        """The index keys and the operations (JSON for the script) of one commit."""
        task_keys: list[str] = []
        slots: dict[str, int] = {}
        zadd: list[list[Any]] = []
        counts: dict[str, int] = {}
        logs_add: list[str] = []
        logs_remove: list[str] = []
        for name, inst in changes.instances.items():
            before = state.original_status(name)
            if before != inst.status:
                task = inst.task_name
                if task not in slots:
                    task_keys.append(self.task_key(task))
                    slots[task] = len(task_keys)
                zadd.append([repr(score(inst)), name, slots[task]])
                if before is not None:
                    field = f"{before}:{task}"
                    counts[field] = counts.get(field, 0) - 1
                field = f"{inst.status}:{task}"
                counts[field] = counts.get(field, 0) + 1
            (logs_add if inst.has_unresolved_logs else logs_remove).append(name)
        ops = {
            "z": zadd,
            "t": [[field, delta] for field, delta in counts.items() if delta],
            "la": logs_add,
            "lr": logs_remove,
            "v": 1 if state.fresh_session else 0,
        }
        keys = [self.tasks_key, self.counts_key, self.logs_key, self.marker_key, *task_keys]
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
        keys = [raw(self.marker_key), raw(self.tasks_key)]
        if task is not None:
            keys.append(raw(self.task_key(task)))
        script = self.kv.client.register_script(PAGE_LUA)
        names = None
        for attempt in range(2):
            names = script(keys=keys, args=[offset, limit, INDEX_VERSION])
            if names is not None or attempt:
                break
            self.build()
        return [_text(name) for name in names or []]

    def build(self) -> None:
        """Build the index from the records (a session stored before the index existed): reads
        every instance once, under the session's lock so no write slips in between."""
        storage = self.storage
        with storage._lock_session():
            state = storage._new_state()
            instances = state.all_instances()
            tasks = sorted(set(state.counts) | set(state.configs))
            raw = self.kv.raw_key
            with self.kv.client.pipeline(transaction=True) as pipe:
                pipe.delete(*(raw(key) for key in self.keys(tasks)))
                counts: dict[str, int] = {}
                for start in range(0, len(instances), BUILD_CHUNK):
                    chunk = instances[start : start + BUILD_CHUNK]
                    by_task: dict[str, dict[str, float]] = {}
                    for inst in chunk:
                        by_task.setdefault(inst.task_name, {})[inst.name] = score(inst)
                        field = f"{inst.status}:{inst.task_name}"
                        counts[field] = counts.get(field, 0) + 1
                    for task, scores in by_task.items():
                        pipe.zadd(raw(self.task_key(task)), scores)
                        pipe.sadd(raw(self.tasks_key), raw(self.task_key(task)))
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

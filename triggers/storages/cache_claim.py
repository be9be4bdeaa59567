"""The job's fast path on the ``cache`` storage on Redis: claim and finish without a lock.

``claim``: one script moves a ``scheduled`` instance to ``running`` and takes its lease, where
the generic unit of work takes 3 round trips (lock and read, fenced write, lease). It does in Lua
what ``TriggerManager.start_instance`` and the commit script do (status, the ``lastModified`` and
``running`` stamps, the session's status counts, the status index of ``cache_index``) and edits
the record's JSON text in place, so the record is byte for byte what Python would have written.
Whatever it is not sure of (a locked session, an instance that is not ``scheduled``, a task no
longer configured, stamps that are not integer microseconds, logs, a record its edit would not
reproduce exactly) it leaves alone and answers "not claimed": the caller then takes the generic
path, which decides.

``finish_wrapped``: the commit script, extended to remove the instance from the watch list and
delete its lease in the same script when the write succeeds (the job's last write).
"""

from __future__ import annotations

import json
from typing import Any

from ..types import STATUS_RUNNING, TaskConfig, TaskInstance
from .cache_records import _micros, decode_instance
from .status_index import rank

# KEYS: 1 lock, 2 record, 3 configs, 4 lease, 5 status counts hash, 6 pending-counts set,
#       7 index of all instances, 8 index counts, 9 unresolved-logs set, 10 index of the task.
# ARGV: 1 stamp (integer microseconds), 2 lease ms ('' for no lease), 3 task name,
#       4 instance name, 5 session uid (pending-counts member), 6 rank(running) * RANK_STEP.
_CLAIM = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local raw = redis.call('GET', KEYS[2])
if not raw then return {0} end
local ok, rec = pcall(cjson.decode, raw)
if not ok or type(rec) ~= 'table' or rec.s ~= 'scheduled' then return {0} end
local task = ARGV[3]
if rec.t ~= nil and rec.t ~= task then return {0} end
local configs = redis.call('GET', KEYS[3])
if not configs then return {0} end
local ok_c, cfgs = pcall(cjson.decode, configs)
if not ok_c or type(cfgs) ~= 'table' or cfgs[task] == nil then return {0} end
local m = rec.m
if type(m) ~= 'table' or type(m.timestamps) ~= 'table' then return {0} end
local ts = m.timestamps
if m.logs ~= nil and (type(m.logs) ~= 'table' or next(m.logs) ~= nil) then return {0} end
if type(ts.created) ~= 'number' then return {0} end

local function int_text(v)
  if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 or v >= 9007199254740992 then
    return nil
  end
  return string.format('%.0f', v)
end
local function stamps_text(t)
  local keys = {}
  for k, v in pairs(t) do
    if type(k) ~= 'string' or not string.match(k, '^[%w_]+$') or not int_text(v) then
      return nil
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = '"' .. k .. '":' .. int_text(t[k]) end
  return '"timestamps":{' .. table.concat(parts, ',') .. '}'
end
local function replace_last(text, old, new)
  local at, from = nil, 1
  while true do
    local i = string.find(text, old, from, true)
    if not i then break end
    at, from = i, i + 1
  end
  if not at then return nil end
  return string.sub(text, 1, at - 1) .. new .. string.sub(text, at + #old)
end
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= 'table' then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local old_stamps = stamps_text(ts)
local stamp = tonumber(ARGV[1])
if not old_stamps or not stamp then return {0} end
ts.lastModified, ts.running = stamp, stamp
rec.s = 'running'
local new = replace_last(raw, '"s":"scheduled"', '"s":"running"')
new = new and replace_last(new, old_stamps, stamps_text(ts))
if not new then return {0} end
local ok_n, check = pcall(cjson.decode, new)
if not ok_n or not same(rec, check) then return {0} end

redis.call('SET', KEYS[2], new)
if ARGV[2] ~= '' then redis.call('SET', KEYS[4], '1', 'PX', ARGV[2]) end
redis.call('HINCRBY', KEYS[5], 'scheduled', -1)
redis.call('HINCRBY', KEYS[5], 'running', 1)
redis.call('SADD', KEYS[6], ARGV[5])
local score = string.format('%.17g', tonumber(ARGV[6]) + ts.created / 1e6)
redis.call('ZADD', KEYS[7], score, ARGV[4])
redis.call('ZADD', KEYS[10], score, ARGV[4])
for _, move in ipairs({{'scheduled:' .. task, -1}, {'running:' .. task, 1}}) do
  if redis.call('HINCRBY', KEYS[8], move[1], move[2]) == 0 then
    redis.call('HDEL', KEYS[8], move[1])
  end
end
redis.call('SREM', KEYS[9], ARGV[4])
return {1, new, configs}
"""

# Prepended to the commit script: its last 2 keys (watch list, lease) and last argument (the
# watch-list member) are taken off before it runs; after a successful write the instance leaves
# the watch list and its lease is deleted.
_FINISH_HEAD = """
local watch_key, lease_key = KEYS[#KEYS - 1], KEYS[#KEYS]
local watch_member = ARGV[#ARGV]
table.remove(KEYS)
table.remove(KEYS)
table.remove(ARGV)
local function commit()
"""
_FINISH_TAIL = """
end
local written = commit()
if written == 1 then
  redis.call('ZREM', watch_key, watch_member)
  redis.call('DEL', lease_key)
end
return written
"""


def finish_wrapped(commit_script: str) -> str:
    """``commit_script`` (a script answering 1 when it wrote), also ending the job's watch."""
    return _FINISH_HEAD + commit_script + _FINISH_TAIL


class FinishWatch:
    """What the write that ends a job's run also removes: its watch entry and its lease.

    Raw Redis keys (no cache prefix): they live on the queue's server, which is then the
    cache's. ``done`` says whether a write did it.
    """

    def __init__(self, name: str, watch_key: str, member: str, lease_key: str) -> None:
        self.name = name
        self.keys = [watch_key, lease_key]
        self.member = member
        self.done = False

    def applies_to(self, instances: dict[str, TaskInstance]) -> bool:
        """Whether a write of ``instances`` ends the run: the instance leaves ``running``."""
        inst = instances.get(self.name)
        return inst is not None and inst.status != STATUS_RUNNING


def claim_args(
    storage: Any, name: str, task_name: str, lease_key: str | None, lease_ms: int, stamp: str
) -> tuple[list[str], list[Any]] | None:
    """The keys and arguments of the claim script (``None`` when ``stamp`` is not exact)."""
    from .cache import PENDING_COUNTS_KEY
    from .cache_index import RANK_STEP, CacheIndex

    micros = _micros(stamp)
    if not isinstance(micros, int):
        return None
    kv = storage.kv
    index = CacheIndex(storage, kv)
    raw = kv.raw_key
    keys = [
        raw(storage.key("lock")),
        raw(storage.instance_key(name)),
        raw(storage.key("configs")),
        lease_key or raw(storage.key("lock")),
        raw(storage.key("statuses")),
        raw(PENDING_COUNTS_KEY),
        raw(index.all_key),
        raw(index.counts_key),
        raw(index.logs_key),
        raw(index.task_key(task_name)),
    ]
    running_base = repr(rank(STATUS_RUNNING) * RANK_STEP)
    args = [micros, lease_ms if lease_key else "", task_name, name, storage.uid, running_base]
    return keys, args


def decode_claimed(name: str, task_name: str, answer: Any) -> tuple[TaskInstance, TaskConfig]:
    """The claimed instance and its task's configuration, from the script's answer."""
    record, configs = (v.decode() if isinstance(v, bytes) else v for v in answer[1:3])
    instance = decode_instance(name, json.loads(record))
    return instance, TaskConfig.from_dict(task_name, json.loads(configs)[task_name])

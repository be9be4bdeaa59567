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

from ..types import STATUS_RUNNING, STATUS_SCHEDULED, TaskConfig, TaskInstance
from .cache_index_scripts import INDEX_WRITE_LUA
from .cache_records import _micros, decode_instance

# KEYS: 1 lock, 2 record, 3 configs, 4 lease, 5 status counts hash, 6 pending-counts set,
#       7..10 the status index's ``:xt``, ``:tc``, ``:lg``, ``:xv`` (``INDEX_WRITE_LUA``'s
#       ``n + 4 .. n + 7`` with ``n`` = 3), 11 the instance's ``scheduled`` chunk, 12 its
#       ``running`` chunk.
# ARGV: 1 stamp (integer microseconds), 2 lease ms ('' for no lease), 3 task name,
#       4 instance name, 5 session uid (pending-counts member).
_CLAIM = (
    r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local raw = redis.call('GET', KEYS[2])
if not raw or string.sub(raw, 1, 6) ~= '{"T":{' then return {0} end
local ok, rec = pcall(cjson.decode, raw)
if not ok or type(rec) ~= 'table' or rec.s ~= 'scheduled' or rec.name ~= nil then
  return {0}
end
local task, name = ARGV[3], ARGV[4]
if rec.t ~= nil and rec.t ~= task then return {0} end
local configs = redis.call('GET', KEYS[3])
if not configs then return {0} end
local ok_c, cfgs = pcall(cjson.decode, configs)
if not ok_c or type(cfgs) ~= 'table' or cfgs[task] == nil then return {0} end
local T, m = rec.T, rec.m
if type(T) ~= 'table' or type(T.c) ~= 'number' then return {0} end
if m ~= nil then
  if type(m) ~= 'table' or m.timestamps ~= nil then return {0} end
  for k in pairs(m) do
    if type(k) ~= 'string' or string.find(string.lower(k), 'log', 1, true) then return {0} end
  end
end

local function int_text(v)
  if type(v) ~= 'number' or v ~= math.floor(v) or v < 0 or v >= 9007199254740992 then
    return nil
  end
  return string.format('%.0f', v)
end
-- "T" as encode_instance writes it (sorted keys, integers, "l" maybe a stamp's code)
local function stamps_text(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= 'string' or not string.match(k, '^%a$') then return nil end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = t[k]
    local text = int_text(v)
    if type(v) == 'string' and string.match(v, '^%a$') then text = '"' .. v .. '"' end
    if not text then return nil end
    parts[i] = '"' .. k .. '":' .. text
  end
  return '{' .. table.concat(parts, ',') .. '}'
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

local old_stamps = stamps_text(T)
local stamp = tonumber(ARGV[1])
if not old_stamps or not stamp then return {0} end
if string.sub(raw, 6, 5 + #old_stamps) ~= old_stamps then return {0} end
local delta = stamp - T.c
if not int_text(delta) then return {0} end
-- "l" names the last stamp equal to lastModified: "r" unless another one ties with it
for k, v in pairs(T) do
  if k ~= 'c' and k ~= 'l' and k ~= 'r' and v == delta then return {0} end
end
T.r, T.l = delta, 'r'
rec.s = 'running'
local new = '{"T":' .. stamps_text(T) .. string.sub(raw, 6 + #old_stamps)
new = replace_last(new, '"s":"scheduled"', '"s":"running"')
if not new then return {0} end
local ok_n, check = pcall(cjson.decode, new)
if not ok_n or not same(rec, check) then return {0} end
local score = redis.call('ZSCORE', KEYS[11], name)
if not score then return {0} end  -- not indexed in this layout: the generic path rebuilds

redis.call('SET', KEYS[2], new)
if ARGV[2] ~= '' then redis.call('SET', KEYS[4], '1', 'PX', ARGV[2]) end
redis.call('HINCRBY', KEYS[5], 'scheduled', -1)
redis.call('HINCRBY', KEYS[5], 'running', 1)
redis.call('SADD', KEYS[6], ARGV[5])
local z = {}
if KEYS[11] ~= KEYS[12] then z = {{1, 2, score, name}} end
local n = 3
local ops_text = cjson.encode({
  z = z, t = {{'scheduled:' .. task, -1}, {'running:' .. task, 1}}, la = {}, lr = {name}, v = 0
})
do
INDEX_WRITE
end
return {1, new, configs}
"""
).replace("INDEX_WRITE", INDEX_WRITE_LUA)

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
    from .cache_index import CacheIndex

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
        raw(index.chunks_key),
        raw(index.counts_key),
        raw(index.logs_key),
        raw(index.marker_key),
        raw(index.chunk_key(task_name, STATUS_SCHEDULED, name)),
        raw(index.chunk_key(task_name, STATUS_RUNNING, name)),
    ]
    args = [micros, lease_ms if lease_key else "", task_name, name, storage.uid]
    return keys, args


def decode_claimed(
    storage: Any, name: str, task_name: str, answer: Any
) -> tuple[TaskInstance, TaskConfig]:
    """The claimed instance and its task's configuration, from the script's answer."""
    record, configs = (v.decode() if isinstance(v, bytes) else v for v in answer[1:3])
    instance = decode_instance(name, json.loads(record), storage.uid, storage.name)
    return instance, TaskConfig.from_dict(task_name, json.loads(configs)[task_name])

"""The Lua of the ``cache`` status index (``cache_index``): its part of the commit script and
the read-only script that answers one page.

Chunks are sorted sets of at most ``CHUNK`` instances of one task in one page rank (key
``...:x:<task>:<rank>:<chunk>``), scored by creation time in integer microseconds; ``:xt`` is
the set of the chunks' Redis keys. Small sorted sets stay in Redis's compact listpack encoding
(``zset-max-listpack-entries``, 128 by default): about 20 bytes an instance instead of ~110 in
one big sorted set.
"""

from __future__ import annotations

#: The value of ``:xv`` once the index is complete in this layout ("1": one sorted set of the
#: whole session plus one per task, scored by rank and creation time in float seconds).
INDEX_VERSION = "2"

#: The index's part of the commit script (``cache_primitives``): ``n`` values were written,
#: ``ops_text`` holds ``CacheIndex.write_ops``' operations. KEYS from ``n + 4``: ``:xt``,
#: ``:tc``, ``:lg``, ``:xv``, then the chunks the commit touches (``z``: old chunk's slot or 0,
#: new chunk's slot, score as text, name).
INDEX_WRITE_LUA = """
    local ops = cjson.decode(ops_text)
    local chunks, tc, lg = KEYS[n + 4], KEYS[n + 5], KEYS[n + 6]
    for _, z in ipairs(ops.z) do
      if z[1] > 0 then
        local old = KEYS[n + 7 + z[1]]
        redis.call('ZREM', old, z[4])
        if redis.call('EXISTS', old) == 0 then redis.call('SREM', chunks, old) end
      end
      local new = KEYS[n + 7 + z[2]]
      redis.call('ZADD', new, z[3], z[4])
      redis.call('SADD', chunks, new)
    end
    for _, t in ipairs(ops.t) do
      if redis.call('HINCRBY', tc, t[1], t[2]) == 0 then redis.call('HDEL', tc, t[1]) end
    end
    for _, name in ipairs(ops.la) do redis.call('SADD', lg, name) end
    for _, name in ipairs(ops.lr) do redis.call('SREM', lg, name) end
    if ops.v == 1 then redis.call('SET', KEYS[n + 7], 'VERSION') end
""".replace("VERSION", INDEX_VERSION)

#: One page of names. KEYS: ``:xv``, ``:xt``, ``:tc``; ARGV: offset, limit, INDEX_VERSION, the
#: Redis key prefix of one task's chunks ('' for the whole session), that task's name, the page
#: ranks as JSON (status -> rank). ``false`` when the index is not complete. Each rank's size
#: comes from the counts in ``:tc``; within the rank the page starts in, the score below which
#: at most ``offset`` instances lie is found by bisection over the chunks' score ranges (chunks
#: hold consecutive instance numbers, so nearly always one chunk straddles a score and needs a
#: ``ZCOUNT``), then the rows from that score are read chunk by chunk, lowest first, until no
#: further chunk can hold one of the page's rows. Work grows with the number of the rank's
#: chunks (instances / 128) and log(time span); round trips stay at one.
PAGE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return false end
local offset, limit, prefix, task = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4], ARGV[5]
local rank_of = cjson.decode(ARGV[6])
local totals, ranks = {}, {}
local counts = redis.call('HGETALL', KEYS[3])
for i = 1, #counts, 2 do
  local status, of_task = string.match(counts[i], '^([^:]*):(.*)$')
  if status and (prefix == '' or of_task == task) then
    local rank = rank_of[status] or 9
    if not totals[rank] then
      totals[rank] = 0
      ranks[#ranks + 1] = rank
    end
    totals[rank] = totals[rank] + tonumber(counts[i + 1])
  end
end
table.sort(ranks)
local function text(x) return string.format('%.17g', x) end
local function before(a, b)  -- score, then name byte by byte (the sorted sets' own order)
  if a[1] ~= b[1] then return a[1] < b[1] end
  local x, y = a[2], b[2]
  for i = 1, math.min(#x, #y) do
    local p, q = string.byte(x, i), string.byte(y, i)
    if p ~= q then return p < q end
  end
  return #x < #y
end
local members
local function chunks_of(rank)  -- the rank's non-empty chunks in this view, with their ranges
  members = members or redis.call('SMEMBERS', KEYS[2])
  local chunks = {}
  for _, key in ipairs(members) do
    if (prefix == '' or string.sub(key, 1, #prefix) == prefix)
        and tonumber(string.match(key, ':(%d+):[^:]*$')) == rank then
      local low = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if low[2] then
        chunks[#chunks + 1] = {key = key, n = redis.call('ZCARD', key), min = tonumber(low[2]),
          max = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])}
      end
    end
  end
  return chunks
end
local function page_of(chunks, first, count)
  if #chunks == 0 then return {} end
  if #chunks == 1 then return redis.call('ZRANGE', chunks[1].key, first, first + count - 1) end
  local lo, hi
  for _, c in ipairs(chunks) do
    if lo == nil or c.min < lo then lo = c.min end
    if hi == nil or c.max > hi then hi = c.max end
  end
  local function below(x)
    local found = 0
    for _, c in ipairs(chunks) do
      if c.max < x then found = found + c.n
      elseif c.min < x then found = found + redis.call('ZCOUNT', c.key, '-inf', '(' .. text(x))
      end
    end
    return found
  end
  if first > 0 then
    if below(hi) <= first then lo = hi else
      while hi - lo > 1 do  -- integer scores: ends with every score in [lo, hi) equal to lo
        local mid = math.floor((lo + hi) / 2)
        if below(mid) <= first then lo = mid else hi = mid end
      end
    end
  end
  local skip = first - below(lo)
  local want = skip + count
  local from = {}
  for _, c in ipairs(chunks) do
    if c.max >= lo then from[#from + 1] = c end
  end
  table.sort(from, function(a, b) return a.min < b.min end)
  local rows = {}
  for _, c in ipairs(from) do
    if #rows >= want then
      table.sort(rows, before)
      for i = #rows, want + 1, -1 do rows[i] = nil end
      if c.min > rows[want][1] then break end
    end
    local got = redis.call('ZRANGEBYSCORE', c.key, text(lo), '+inf', 'WITHSCORES', 'LIMIT', 0,
                           want)
    for i = 1, #got, 2 do rows[#rows + 1] = {tonumber(got[i + 1]), got[i]} end
  end
  table.sort(rows, before)
  local names = {}
  for i = skip + 1, math.min(#rows, want) do names[#names + 1] = rows[i][2] end
  return names
end
local names = {}
for _, rank in ipairs(ranks) do
  if limit <= 0 then break end
  if offset >= totals[rank] then offset = offset - totals[rank] else
    for _, name in ipairs(page_of(chunks_of(rank), offset, limit)) do
      names[#names + 1] = name
      limit = limit - 1
    end
    offset = 0
  end
end
return names
"""

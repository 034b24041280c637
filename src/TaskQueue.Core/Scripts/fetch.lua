-- Leases up to ARGV[3] pending tasks to one worker: high before normal before low, oldest first within a level.
-- KEYS[1] pending    LIST  task ids of priority normal (taken from the tail)
-- KEYS[2] active     ZSET  task id -> lease deadline (unix ms)
-- KEYS[3] tasks      HASH  task id -> envelope JSON
-- KEYS[4] attempts   HASH  task id -> attempts that failed and were retried
-- KEYS[5] owners     HASH  task id -> id of the worker holding the lease
-- KEYS[6] recoveries HASH  task id -> times its lease ran out while a worker held it
-- KEYS[7] limits     HASH  flow control (Suspend-TqQueue, Set-TqQueue): 'suspended' -> 1, 'concurrency' -> most tasks
--                          leased at once across all workers, 'rate' and 'period' -> most tasks started per period (ms),
--                          'aging' -> the aging time of priorities (ms)
-- KEYS[8] rate       STRING the rate limit's theoretical arrival time (GCRA, unix ms): the next task may start then
-- KEYS[9] pending-high LIST task ids of priority high
-- KEYS[10] pending-low LIST task ids of priority low
-- KEYS[11] levels    HASH  task id -> 'high' or 'low' (normal tasks are not in it)
-- KEYS[12] passed    HASH  'normal' and 'low' -> since when that level's tasks wait while higher levels are leased
--                          (unix ms; aging)
-- KEYS[13] succeeded ZSET  task id -> completion time: an id in it already ran (its replayed body is removed)
-- KEYS[14] failed    ZSET  task id -> failure time: an id in it failed for good (Restart-TqTask takes it out first)
-- ARGV[1] worker id
-- ARGV[2] lease deadline (unix ms)
-- ARGV[3] most tasks to lease (at most 1,000 per call)
-- ARGV[4] now (unix ms)
-- Returns a flat array of pairs, task id and envelope JSON ('' when the task body is missing), followed by one
-- array of triples for the tasks whose attempt is not their first: position of the task in the batch (1-based),
-- attempt number, recoveries so far; then the number of tasks left in the three lists, the earliest lease deadline
-- of the queue (unix ms; -1 when no task is leased), and what holds the queue back: -1 nothing, 0 a limit that
-- lifts with a message on the wake channel (suspended, or as many tasks leased as the concurrency limit allows),
-- or the time the rate limit lets the next task start (unix ms). A worker learns from them whether and when to fetch
-- again, and when to look for a lease that ran out, without asking again.
-- Limits are enforced here, at lease time, where every worker sees the same counts: a task over a limit stays in
-- the list, never leased and handed back. A queue without limits pays one EXISTS, and one without priorities
-- another (on levels). A task missing from recoveries is on attempt 1 with no recoveries, as most are, so
-- the reply carries two strings for most tasks. The attempt number is 1 + the attempts that failed and were
-- retried + the recoveries (attempts whose worker died): nothing is written for the attempt itself, which the
-- lease records.
-- A task that was recovered before (its worker died while holding it) is leased alone, so that if it kills
-- its worker again, no other task is counted with it: it ends a batch, and is left for the next one if others came first.
-- Aging: a level whose tasks have waited the aging time (the limits hash's 'aging', ms; AGING_MS when unset) while
-- tasks of higher levels were leased gives the next task, the lowest such level first, and waits again from then. So
-- a low task never starves: each waiting level gets at least one task per aging time, and strict order holds for
-- a backlog that drains faster than that.
-- Once only (docs/SECURITY.md, "Replay"): an id taken from a list that is already leased, already succeeded or
-- failed for good, or taken twice in this call, is a copy pushed again by someone; it is dropped, never leased.
-- Batch commands (one call for all ids, in chunks) keep the cost per task to a few hash and sorted-set entries.
--#include chunks
local AGING_MS = 30000
local aging = AGING_MS
local LISTS = { KEYS[9], KEYS[1], KEYS[10] }
-- Whether the queue has tasks of another level than normal (see lib/pending.lua); fetch changes no level.
local ranked = redis.call('EXISTS', KEYS[11]) == 1

-- What is left in the lists after this call, and the lease that runs out first.
local function left_and_earliest()
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local left = ranked and (redis.call('LLEN', KEYS[9]) + redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[10]))
    or redis.call('LLEN', KEYS[1])
  return left, head[2] and tonumber(head[2]) or -1
end

local want = math.min(tonumber(ARGV[3]), CHUNK)
local held = -1
local spacing = nil
local function nothing(hold)
  local left, earliest = left_and_earliest()
  return { {}, left, earliest, hold }
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  local limits = redis.call('HMGET', KEYS[7], 'suspended', 'concurrency', 'rate', 'period', 'aging')
  if limits[1] then return nothing(0) end
  aging = tonumber(limits[5]) or AGING_MS
  if limits[2] then
    local free = tonumber(limits[2]) - redis.call('ZCARD', KEYS[2])
    if free <= 0 then return nothing(0) end
    if free < want then want = free; held = 0 end
  end
  if limits[3] then
    -- GCRA without a burst: one task per period / rate, so no window of one period holds more than the rate.
    spacing = tonumber(limits[4]) / tonumber(limits[3])
    local now = tonumber(ARGV[4])
    local due = math.max(tonumber(redis.call('GET', KEYS[8]) or now), now)
    if due > now then return nothing(math.ceil(due)) end
    want = 1
    held = math.ceil(now + spacing)
  end
end

-- The tasks to lease, in order, and the list each came from: tails of lists, tail first (as RPOP with a count would
-- give; LRANGE and LTRIM because RPOP with a count is not implemented alike by every Redis-compatible server). A queue
-- without tasks of another level than normal takes from its one list.
local ids, from = {}, {}
-- The key type check (added at load, in each branch) runs only when a list holds a task: an idle queue pays nothing.
if not ranked then
  local tail = redis.call('LRANGE', KEYS[1], -want, -1)
  if #tail > 0 then
--#typecheck
  end
  if #tail > 0 then redis.call('LTRIM', KEYS[1], 0, -(#tail + 1)) end
  for i = #tail, 1, -1 do ids[#ids + 1] = tail[i]; from[#ids] = 2 end
else
  local len = { redis.call('LLEN', KEYS[9]), redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[10]) }
  if len[1] + len[2] + len[3] > 0 then
--#typecheck
  end
  local now = tonumber(ARGV[4])
  local clocks = redis.call('HMGET', KEYS[12], 'normal', 'low')
  local since = { false, tonumber(clocks[1]) or false, tonumber(clocks[2]) or false }
  while want > 0 do
    local level, run, aged = nil, want, false
    for l = 3, 2, -1 do
      if len[l] > 0 and since[l] and now - since[l] >= aging then level, run, aged = l, 1, true; break end
    end
    if not level then
      for l = 1, 3 do
        if len[l] > 0 then level = l; break end
      end
      if not level then break end
    end
    run = math.min(run, len[level])
    local tail = redis.call('LRANGE', LISTS[level], -run, -1)
    redis.call('LTRIM', LISTS[level], 0, -(#tail + 1))
    for i = #tail, 1, -1 do ids[#ids + 1] = tail[i]; from[#ids] = level end
    len[level] = len[level] - run
    want = want - run
    -- An aged level waits again from now; a level served in its turn waits no more.
    since[level] = aged and now or false
    for lower = level + 1, 3 do
      if len[lower] > 0 and not since[lower] then since[lower] = now end
    end
  end
  local keep = {}
  for l = 2, 3 do
    if len[l] > 0 and since[l] then
      keep[#keep + 1] = l == 2 and 'normal' or 'low'
      keep[#keep + 1] = since[l]
    end
  end
  if clocks[1] or clocks[2] then redis.call('DEL', KEYS[12]) end
  if #keep > 0 then redis.call('HSET', KEYS[12], unpack(keep)) end
end
if #ids == 0 then return nothing(-1) end
do
  local kept, kept_from, seen = {}, {}, {}
  local has_succeeded = redis.call('EXISTS', KEYS[13]) == 1
  local has_failed = redis.call('EXISTS', KEYS[14]) == 1
  for i = 1, #ids do
    local id = ids[i]
    local copy = seen[id] or redis.call('ZSCORE', KEYS[2], id)
    if not copy and has_succeeded and redis.call('ZSCORE', KEYS[13], id) then
      copy = true
      redis.call('HDEL', KEYS[3], id)
    end
    if not copy and has_failed and redis.call('ZSCORE', KEYS[14], id) then copy = true end
    if not copy then
      seen[id] = true
      kept[#kept + 1] = id
      kept_from[#kept] = from[i]
    end
  end
  ids, from = kept, kept_from
end
if #ids == 0 then return nothing(-1) end
-- Per-task counters, read only when some task of the queue has one (a fresh queue has none).
local function counters(key)
  if redis.call('EXISTS', key) == 0 then return {} end
  return redis.call('HMGET', key, unpack(ids))
end
local recoveries = counters(KEYS[6])

-- Where the batch ends: before the first suspect, or with it when it comes first.
local take = #ids
for i = 1, #ids do
  if (tonumber(recoveries[i]) or 0) > 0 then
    take = (i == 1) and 1 or (i - 1)
    break
  end
end
if take < #ids then
  -- Back on the tails of their lists in their order: the first taken ends up last on its tail again.
  for i = #ids, take + 1, -1 do
    redis.call('RPUSH', LISTS[from[i]], ids[i])
    ids[i] = nil
  end
end

-- Counters rather than the length operator (a search per call) in the loops that run per task.
local deadlines, owners = {}, {}
for i = 1, take do
  deadlines[2 * i - 1] = ARGV[2]
  deadlines[2 * i] = ids[i]
  owners[2 * i - 1] = ids[i]
  owners[2 * i] = ARGV[1]
end
variadic('ZADD', KEYS[2], deadlines)
variadic('HSET', KEYS[5], owners)
local envelopes = redis.call('HMGET', KEYS[3], unpack(ids))
local retried = counters(KEYS[4])

local out, later, m = {}, {}, 0
for i = 1, take do
  out[2 * i - 1] = ids[i]
  out[2 * i] = envelopes[i] or ''
  local lost = tonumber(recoveries[i]) or 0
  local attempt = (tonumber(retried[i]) or 0) + lost + 1
  if attempt > 1 then
    later[m + 1] = i
    later[m + 2] = attempt
    later[m + 3] = lost
    m = m + 3
  end
end
if spacing then
  -- The next task may start one spacing after this one; the key goes once it no longer holds anything back.
  redis.call('SET', KEYS[8], tostring(held), 'PX', math.ceil(spacing) + 1000)
end
out[2 * take + 1] = later
out[2 * take + 2], out[2 * take + 3] = left_and_earliest()
out[2 * take + 4] = held
return out

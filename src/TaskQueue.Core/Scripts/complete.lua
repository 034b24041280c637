-- Records successful attempts, each only if the worker still holds its lease, and trims old success records.
-- KEYS[1] active     ZSET  task id -> lease deadline
-- KEYS[2] owners     HASH  task id -> worker id
-- KEYS[3] succeeded  ZSET  task id -> completion time (unix ms)
-- KEYS[4] results    HASH  task id -> success record JSON
-- KEYS[5] tasks      HASH  task id -> envelope JSON (removed: the record carries what it needs)
-- KEYS[6] attempts   HASH  task id -> attempts that failed and were retried (removed)
-- KEYS[7] unique     HASH  unique key -> task id (released when the task holds it)
-- KEYS[8] recoveries HASH  task id -> recoveries (removed)
-- KEYS[9] canceled   SET   ids whose cancellation was asked (removed)
-- KEYS[10] dependents HASH task id -> the tasks that wait for it (depend.lua), removed as they move to handover
-- KEYS[11] handover  LIST  outcomes to hand over to waiting tasks: '<queue>\t<id>\ts\t<waiting queue>\t<waiting id>\t<policy>'
-- KEYS[12] limits    HASH  flow control (fetch.lua): under a concurrency limit, a finished task frees a place, which is
--                          announced on the wake channel (ARGV[5]) to the workers that wait for one
-- KEYS[13] levels    HASH  task id -> priority level of a task that is not normal (removed)
-- ARGV[1] worker id
-- ARGV[2] records completed before this time (unix ms) are removed
-- ARGV[3] most success records kept
-- ARGV[4] the name of this queue (for the hand-over lines)
-- ARGV[5] wake channel
-- ARGV[6], ARGV[7], ... quadruples of task id, success record JSON, the task's unique key ('' for none),
--         and its completion time (unix ms), the score that orders success records
-- Returns one integer per task: 1 recorded, 2 recorded and tasks wait for it (their hand-over is queued in
-- handover), 0 the worker no longer holds the lease (nothing written for it).
-- Every write is one batch command for all the tasks (in chunks), so the cost per task is a few list entries.
--#include chunks
--#include handover

local ids, n = ids_of(6, 4)
if n == 0 then return {} end
local owners = hmget(KEYS[2], ids, n)

-- Counters rather than the length operator (a search per call) in the loop that runs per task.
local out, mine, scored, records = {}, {}, {}, {}
local m = 0
for k = 1, n do
  local id = ids[k]
  local i = 6 + (k - 1) * 4
  if owners[k] == ARGV[1] then
    m = m + 1
    mine[m] = id
    scored[2 * m - 1] = ARGV[i + 3]
    scored[2 * m] = id
    records[2 * m - 1] = id
    records[2 * m] = ARGV[i + 1]
    local unique = ARGV[i + 2]
    if unique ~= '' and redis.call('HGET', KEYS[7], unique) == id then
      redis.call('HDEL', KEYS[7], unique)
    end
    out[k] = 1
  else
    out[k] = 0
  end
end

if m > 0 then
  variadic('ZREM', KEYS[1], mine)
  variadic('HDEL', KEYS[2], mine)
  variadic('HDEL', KEYS[5], mine)
  -- Counters and marks that only some tasks have: nothing to remove when their key does not exist.
  if redis.call('EXISTS', KEYS[6]) == 1 then variadic('HDEL', KEYS[6], mine) end
  if redis.call('EXISTS', KEYS[8]) == 1 then variadic('HDEL', KEYS[8], mine) end
  if redis.call('EXISTS', KEYS[9]) == 1 then variadic('SREM', KEYS[9], mine) end
  if redis.call('EXISTS', KEYS[13]) == 1 then variadic('HDEL', KEYS[13], mine) end
  variadic('ZADD', KEYS[3], scored)
  variadic('HSET', KEYS[4], records)
  -- Tasks that wait for these: their hand-over, in the same step as the record (a queue with none pays one EXISTS).
  if redis.call('EXISTS', KEYS[10]) == 1 then
    local waiting = hmget(KEYS[10], mine, m)
    for j = 1, m do
      if queue_handover(KEYS[11], ARGV[4], mine[j], 's', waiting[j]) then
        redis.call('HDEL', KEYS[10], mine[j])
        for k = 1, n do if ids[k] == mine[j] then out[k] = 2 end end
      end
    end
  end
end

-- A place under the concurrency limit came free in a queue that was at its limit: workers held back by it fetch again.
-- (Below the limit, no worker is held back by it, and none is woken for nothing.)
local limit = m > 0 and tonumber(redis.call('HGET', KEYS[12], 'concurrency'))
if limit and redis.call('ZCARD', KEYS[1]) + m >= limit then
  redis.call('PUBLISH', ARGV[5], 'free')
end

local function evict(old)
  if #old == 0 then return end
  variadic('ZREM', KEYS[3], old)
  variadic('HDEL', KEYS[4], old)
end
local budget = m + 100
evict(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2], 'LIMIT', 0, budget))
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
if over > 0 then
  if over > budget then over = budget end
  evict(redis.call('ZRANGE', KEYS[3], 0, over - 1))
end
return out

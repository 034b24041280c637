-- Leases up to ARGV[3] pending tasks to one worker.
-- KEYS[1] pending    LIST  task ids (taken from the tail)
-- KEYS[2] active     ZSET  task id -> lease deadline (unix ms)
-- KEYS[3] tasks      HASH  task id -> envelope JSON
-- KEYS[4] attempts   HASH  task id -> attempts that failed and were retried
-- KEYS[5] owners     HASH  task id -> id of the worker holding the lease
-- KEYS[6] recoveries HASH  task id -> times its lease ran out while a worker held it
-- KEYS[7] limits     HASH  flow control (Suspend-TqQueue, Set-TqQueue): 'suspended' -> 1, 'concurrency' -> most tasks
--                          leased at once across all workers, 'rate' and 'period' -> most tasks started per period (ms)
-- KEYS[8] rate       STRING the rate limit's theoretical arrival time (GCRA, unix ms): the next task may start then
-- ARGV[1] worker id
-- ARGV[2] lease deadline (unix ms)
-- ARGV[3] most tasks to lease (at most 1,000 per call)
-- ARGV[4] now (unix ms)
-- Returns a flat array of pairs, task id and envelope JSON ('' when the task body is missing), followed by one
-- array of triples for the tasks whose attempt is not their first: position of the task in the batch (1-based),
-- attempt number, recoveries so far; then the number of tasks left in the list, the earliest lease deadline
-- of the queue (unix ms; -1 when no task is leased), and what holds the queue back: -1 nothing, 0 a limit that
-- lifts with a message on the wake channel (suspended, or as many tasks leased as the concurrency limit allows),
-- or the time the rate limit lets the next task start (unix ms). A worker learns from them whether and when to fetch
-- again, and when to look for a lease that ran out, without asking again.
-- Limits are enforced here, at lease time, where every worker sees the same counts: a task over a limit stays in
-- the list, never leased and handed back. A queue without limits pays one EXISTS. A task missing from it is on attempt 1 with no recoveries, as most are, so
-- the reply carries two strings for most tasks. The attempt number is 1 + the attempts that failed and were
-- retried + the recoveries (attempts whose worker died): nothing is written for the attempt itself, which the
-- lease records.
-- A task that was recovered before (its worker died while holding it) is leased alone, so that if it kills
-- its worker again, no other task is counted with it: it ends a batch, and is left for the next one if others came first.
-- Batch commands (one call for all ids, in chunks) keep the cost per task to a few hash and sorted-set entries.
--#include chunks

-- The tail of the list, tail first (as RPOP with a count would give; LRANGE and LTRIM because RPOP with a
-- count is not implemented alike by every Redis-compatible server).
-- What is left in the list after this call, and the lease that runs out first.
local function left_and_earliest()
  local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return redis.call('LLEN', KEYS[1]), head[2] and tonumber(head[2]) or -1
end

local want = math.min(tonumber(ARGV[3]), CHUNK)
local held = -1
local spacing = nil
local function nothing(hold)
  local left, earliest = left_and_earliest()
  return { {}, left, earliest, hold }
end
if redis.call('EXISTS', KEYS[7]) == 1 then
  local limits = redis.call('HMGET', KEYS[7], 'suspended', 'concurrency', 'rate', 'period')
  if limits[1] then return nothing(0) end
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

local tail = redis.call('LRANGE', KEYS[1], -want, -1)
if #tail == 0 then return nothing(-1) end
redis.call('LTRIM', KEYS[1], 0, -(#tail + 1))
local ids = {}
for i = #tail, 1, -1 do ids[#ids + 1] = tail[i] end
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
  -- Back on the tail in their order: the first popped ends up last on the tail again.
  local back = {}
  for i = #ids, take + 1, -1 do back[#back + 1] = ids[i] end
  variadic('RPUSH', KEYS[1], back)
  for i = #ids, take + 1, -1 do ids[i] = nil end
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

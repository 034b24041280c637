-- Stores new tasks and appends them to the pending list of their priority level (or the schedule, when due later); a task with a unique key is stored only
-- while no live task (pending, scheduled, active or retrying) holds that key.
-- KEYS[1] tasks   HASH  task id -> envelope JSON
-- KEYS[2] pending LIST  task ids of priority normal; enqueue at the head (LPUSH), workers take from the tail
-- KEYS[3] unique  HASH  unique key -> id of the task that holds it
-- KEYS[4] failed    ZSET  task id -> failure time (a failed holder no longer holds its key)
-- KEYS[5] scheduled ZSET  task id -> time it becomes pending (unix ms), for tasks sent with a delay
-- KEYS[6] pending-high LIST task ids of priority high
-- KEYS[7] pending-low  LIST task ids of priority low
-- KEYS[8] levels    HASH  task id -> 'high' or 'low', for the tasks of those levels (see lib/pending.lua)
-- ARGV[1] wake channel, published to when the pending lists were empty before this call (the number of tasks), and
--         when a delayed task of this call is due before any other of the queue ('due:<unix ms>')
-- ARGV[2], ARGV[3], ... quintuples of task id, envelope JSON, unique key ('' for none), the time the task is due
--         (unix ms) or 0 to make it pending now, and its priority level: 'high', 'low' or '' (normal)
-- Returns one value per task: 1 stored, 0 refused because the id exists,
-- or the id (a string) of the live task that holds the unique key.
-- Writes are one batch command per key for all the tasks (in chunks), so the cost per task is a few list entries.
--#include chunks
--#include pending

local ids, n = ids_of(2, 5)
if n == 0 then return {} end
local existing = hmget(KEYS[1], ids, n)

-- Counters rather than the length operator: # costs a search per call, and this loop runs per task.
local out, stored, claimed = {}, {}, {}
local bodies, scheduled, uniques, levels = {}, {}, {}, {}
local pending, counts = { {}, {}, {} }, { 0, 0, 0 }
local nb, np, ns, nu, nl = 0, 0, 0, 0, 0
local earliest = nil
for k = 1, n do
  local id = ids[k]
  local i = 2 + (k - 1) * 5
  local unique = ARGV[i + 2]
  local holder = false
  if unique ~= '' then
    -- A task of this call that took the key holds it; else the one recorded, if it is still live.
    holder = claimed[unique] or false
    if not holder then
      local current = redis.call('HGET', KEYS[3], unique)
      if current and redis.call('HEXISTS', KEYS[1], current) == 1 and not redis.call('ZSCORE', KEYS[4], current) then
        holder = current
      end
    end
  end
  if holder then
    out[k] = holder
  elseif existing[k] or stored[id] then
    out[k] = 0
  else
    stored[id] = true
    bodies[nb + 1] = id
    bodies[nb + 2] = ARGV[i + 1]
    nb = nb + 2
    local level = ARGV[i + 4]
    if level ~= '' then
      levels[nl + 1] = id
      levels[nl + 2] = level
      nl = nl + 2
    end
    local due = tonumber(ARGV[i + 3])
    if due > 0 then
      scheduled[ns + 1] = due
      scheduled[ns + 2] = id
      ns = ns + 2
      if not earliest or due < earliest then earliest = due end
    else
      local l = LEVEL_LIST[level] or 2
      np = np + 1
      counts[l] = counts[l] + 1
      pending[l][counts[l]] = id
    end
    if unique ~= '' then
      claimed[unique] = id
      uniques[nu + 1] = unique
      uniques[nu + 2] = id
      nu = nu + 2
    end
    out[k] = 1
  end
end

variadic('HSET', KEYS[1], bodies)
variadic('HSET', KEYS[8], levels)
local lists = { KEYS[6], KEYS[2], KEYS[7] }
for l = 1, 3 do variadic('LPUSH', lists[l], pending[l]) end
variadic('ZADD', KEYS[5], scheduled)
variadic('HSET', KEYS[3], uniques)
if np > 0 and pending_count(lists, KEYS[8]) == np then
  redis.call('PUBLISH', ARGV[1], np)
end
if earliest and tonumber(redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')[2]) == earliest then
  redis.call('PUBLISH', ARGV[1], 'due:' .. string.format('%d', earliest))
end
return out

-- Stores new tasks and appends them to the pending list (or the schedule, when due later); a task with a unique key is stored only
-- while no live task (pending, scheduled, active or retrying) holds that key.
-- KEYS[1] tasks   HASH  task id -> envelope JSON
-- KEYS[2] pending LIST  task ids; enqueue at the head (LPUSH), workers take from the tail
-- KEYS[3] unique  HASH  unique key -> id of the task that holds it
-- KEYS[4] failed    ZSET  task id -> failure time (a failed holder no longer holds its key)
-- KEYS[5] scheduled ZSET  task id -> time it becomes pending (unix ms), for tasks sent with a delay
-- ARGV[1] wake channel, published to when the pending list was empty before this call (the number of tasks), and when
--         a delayed task of this call is due before any other of the queue ('due:<unix ms>')
-- ARGV[2], ARGV[3], ... quadruples of task id, envelope JSON, unique key ('' for none),
--         and the time the task is due (unix ms), or 0 to make it pending now
-- Returns one value per task: 1 stored, 0 refused because the id exists,
-- or the id (a string) of the live task that holds the unique key.
-- Writes are one batch command per key for all the tasks (in chunks), so the cost per task is a few list entries.
--#include chunks

local ids, n = ids_of(2, 4)
if n == 0 then return {} end
local existing = hmget(KEYS[1], ids, n)

-- Counters rather than the length operator: # costs a search per call, and this loop runs per task.
local out, stored, claimed = {}, {}, {}
local bodies, pending, scheduled, uniques = {}, {}, {}, {}
local nb, np, ns, nu = 0, 0, 0, 0
local earliest = nil
for k = 1, n do
  local id = ids[k]
  local i = 2 + (k - 1) * 4
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
    local due = tonumber(ARGV[i + 3])
    if due > 0 then
      scheduled[ns + 1] = due
      scheduled[ns + 2] = id
      ns = ns + 2
      if not earliest or due < earliest then earliest = due end
    else
      np = np + 1
      pending[np] = id
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
variadic('LPUSH', KEYS[2], pending)
variadic('ZADD', KEYS[5], scheduled)
variadic('HSET', KEYS[3], uniques)
if np > 0 and redis.call('LLEN', KEYS[2]) == np then
  redis.call('PUBLISH', ARGV[1], np)
end
if earliest and tonumber(redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')[2]) == earliest then
  redis.call('PUBLISH', ARGV[1], 'due:' .. string.format('%d', earliest))
end
return out

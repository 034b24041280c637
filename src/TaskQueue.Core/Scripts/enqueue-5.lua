-- Stores new tasks and appends them to the pending list (or the schedule, when due later); a task with a unique key is stored only
-- while no live task (pending, scheduled, active or retrying) holds that key.
-- KEYS[1] tasks   HASH  task id -> envelope JSON
-- KEYS[2] pending LIST  task ids; enqueue at the head (LPUSH), workers take from the tail
-- KEYS[3] unique  HASH  unique key -> id of the task that holds it
-- KEYS[4] failed    ZSET  task id -> failure time (a failed holder no longer holds its key)
-- KEYS[5] scheduled ZSET  task id -> time it becomes pending (unix ms), for tasks sent with a delay
-- ARGV[1] wake channel, published to when the pending list was empty before this call
-- ARGV[2], ARGV[3], ... quadruples of task id, envelope JSON, unique key ('' for none),
--         and the time the task is due (unix ms), or 0 to make it pending now
-- Returns one value per task: 1 stored, 0 refused because the id exists,
-- or the id (a string) of the live task that holds the unique key.
-- Writes are one batch command per key for all the tasks (in chunks), so the cost per task is a few list entries.
local CHUNK = 1000

local function variadic(command, key, items)
  for from = 1, #items, CHUNK do
    redis.call(command, key, unpack(items, from, math.min(from + CHUNK - 1, #items)))
  end
end

local ids = {}
for i = 2, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return {} end
local existing = {}
for from = 1, #ids, CHUNK do
  local part = redis.call('HMGET', KEYS[1], unpack(ids, from, math.min(from + CHUNK - 1, #ids)))
  for j = 1, math.min(CHUNK, #ids - from + 1) do existing[from + j - 1] = part[j] end
end

local out, stored, claimed = {}, {}, {}
local bodies, pending, scheduled, uniques = {}, {}, {}, {}
for n, id in ipairs(ids) do
  local i = 2 + (n - 1) * 4
  local body, unique, due = ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
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
    out[n] = holder
  elseif existing[n] or stored[id] then
    out[n] = 0
  else
    stored[id] = true
    bodies[#bodies + 1] = id
    bodies[#bodies + 1] = body
    if due > 0 then
      scheduled[#scheduled + 1] = due
      scheduled[#scheduled + 1] = id
    else
      pending[#pending + 1] = id
    end
    if unique ~= '' then
      claimed[unique] = id
      uniques[#uniques + 1] = unique
      uniques[#uniques + 1] = id
    end
    out[n] = 1
  end
end

variadic('HSET', KEYS[1], bodies)
variadic('LPUSH', KEYS[2], pending)
variadic('ZADD', KEYS[5], scheduled)
variadic('HSET', KEYS[3], uniques)
if #pending > 0 and redis.call('LLEN', KEYS[2]) == #pending then
  redis.call('PUBLISH', ARGV[1], #pending)
end
return out

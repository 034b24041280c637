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
local out = {}
local added = 0
for i = 2, #ARGV, 4 do
  local id, body, unique, due = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local holder = false
  if unique ~= '' then
    local current = redis.call('HGET', KEYS[3], unique)
    if current and redis.call('HEXISTS', KEYS[1], current) == 1 and not redis.call('ZSCORE', KEYS[4], current) then
      holder = current
    end
  end
  if holder then
    out[#out + 1] = holder
  elseif redis.call('HSETNX', KEYS[1], id, body) == 1 then
    if due > 0 then
      redis.call('ZADD', KEYS[5], due, id)
    else
      redis.call('LPUSH', KEYS[2], id)
      added = added + 1
    end
    if unique ~= '' then redis.call('HSET', KEYS[3], unique, id) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if added > 0 and redis.call('LLEN', KEYS[2]) == added then
  redis.call('PUBLISH', ARGV[1], added)
end
return out

-- Leases up to ARGV[3] pending tasks to one worker.
-- KEYS[1] pending    LIST  task ids (taken from the tail)
-- KEYS[2] active     ZSET  task id -> lease deadline (unix ms)
-- KEYS[3] tasks      HASH  task id -> envelope JSON
-- KEYS[4] attempts   HASH  task id -> attempts started
-- KEYS[5] owners     HASH  task id -> id of the worker holding the lease
-- KEYS[6] recoveries HASH  task id -> times its lease ran out while a worker held it
-- ARGV[1] worker id
-- ARGV[2] lease deadline (unix ms)
-- ARGV[3] most tasks to lease
-- Returns a flat array of quadruples: task id, envelope JSON ('' when the task body is missing),
-- attempt number, recoveries so far.
-- A task that was recovered before (its worker died while holding it) is leased alone, so that if it kills
-- its worker again, no other task is counted with it: it ends a batch, and is left for the next one if others came first.
local out = {}
for _ = 1, tonumber(ARGV[3]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then break end
  local recoveries = tonumber(redis.call('HGET', KEYS[6], id) or '0')
  if recoveries > 0 and #out > 0 then
    redis.call('RPUSH', KEYS[1], id)
    break
  end
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  redis.call('HSET', KEYS[5], id, ARGV[1])
  local attempt = redis.call('HINCRBY', KEYS[4], id, 1)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
  out[#out + 1] = attempt
  out[#out + 1] = recoveries
  if recoveries > 0 then break end
end
return out

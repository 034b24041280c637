-- Hands over one dependency's outcome to a task that waits for it: the last success makes it pending; a failure
-- cancels it (policy Cancel) or counts as settled (policy Run). A duplicate hand-over changes nothing, so a worker
-- that died between recording the outcome and handing it over is replaced by any other that hands it over again.
-- KEYS as hold-7: tasks, waiting, remaining, settled, pending, failed, errors
-- ARGV[1] wake channel
-- ARGV[2] id of the waiting task
-- ARGV[3] the dependency: '<queue>/<id>'
-- ARGV[4] its outcome: 's' or 'f'
-- ARGV[5] the waiting task's policy: 'Cancel' or 'Run'
-- ARGV[6] now (unix ms)
-- ARGV[7], ARGV[8] the error record JSON of a cancellation, before and after the failed dependency's name
-- Returns 0 nothing changed (handed over before, or the task no longer waits), 1 pending, 2 canceled, 3 still waiting,
-- 4 recorded for a task not stored yet (hold-7 reads it).
local id = ARGV[2]
local mark = '\n' .. ARGV[3] .. '='
local settled = redis.call('HGET', KEYS[4], id) or ''
if string.find(settled, mark, 1, true) then return 0 end
if not redis.call('ZSCORE', KEYS[2], id) then
  -- Stored and not waiting: it was released, canceled or removed already.
  if redis.call('HEXISTS', KEYS[1], id) == 1 then return 0 end
  redis.call('HSET', KEYS[4], id, settled .. mark .. ARGV[4])
  return 4
end
if ARGV[4] == 'f' and ARGV[5] == 'Cancel' then
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZADD', KEYS[6], ARGV[6], id)
  redis.call('HSET', KEYS[7], id, ARGV[7] .. ARGV[3] .. ARGV[8])
  return 2
end
if redis.call('HINCRBY', KEYS[3], id, -1) > 0 then
  redis.call('HSET', KEYS[4], id, settled .. mark .. ARGV[4])
  return 3
end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('LPUSH', KEYS[5], id)
if redis.call('LLEN', KEYS[5]) == 1 then redis.call('PUBLISH', ARGV[1], 1) end
return 1

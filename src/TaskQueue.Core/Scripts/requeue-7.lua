-- Puts a failed task back in the pending list with a fresh attempt count (Restart-TqTask).
-- KEYS[1] failed     ZSET  task id -> failure time
-- KEYS[2] errors     HASH  task id -> error record JSON (removed)
-- KEYS[3] attempts   HASH  task id -> attempts that failed and were retried (removed)
-- KEYS[4] tasks      HASH  task id -> envelope JSON
-- KEYS[5] pending    LIST  task ids
-- KEYS[6] recoveries HASH  task id -> recoveries (removed)
-- KEYS[7] canceled   SET   ids whose cancellation was asked (removed)
-- ARGV[1] wake channel
-- ARGV[2] task id
-- Returns 1 when requeued, 0 when the task is not a failure record, -1 when its envelope is gone.
local id = ARGV[2]
if not redis.call('ZSCORE', KEYS[1], id) then return 0 end
if redis.call('HEXISTS', KEYS[4], id) == 0 then return -1 end
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[6], id)
redis.call('SREM', KEYS[7], id)
redis.call('LPUSH', KEYS[5], id)
if redis.call('LLEN', KEYS[5]) == 1 then
  redis.call('PUBLISH', ARGV[1], 1)
end
return 1

-- Cancels a task (Stop-TqTask): a pending, scheduled, waiting or retrying task becomes a failure record at once;
-- for an active one, the cancellation is recorded and announced so the worker running it stops it.
-- KEYS[1] pending  LIST  task ids of priority normal
-- KEYS[2] retry    ZSET  task id -> due time
-- KEYS[3] active   ZSET  task id -> lease deadline
-- KEYS[4] failed   ZSET  task id -> failure time
-- KEYS[5] errors   HASH  task id -> error record JSON
-- KEYS[6] canceled SET   ids whose cancellation was asked
-- KEYS[7] tasks    HASH  task id -> envelope JSON
-- KEYS[8] attempts HASH  task id -> attempts that failed and were retried (removed)
-- KEYS[9] scheduled ZSET task id -> time it becomes pending
-- KEYS[10] waiting  ZSET  task id -> time it began to wait for others (-DependsOn)
-- KEYS[11] remaining HASH task id -> dependencies not settled yet (removed)
-- KEYS[12] settled  HASH  task id -> outcomes of its dependencies known so far (removed)
-- KEYS[13] pending-high LIST task ids of priority high
-- KEYS[14] pending-low  LIST task ids of priority low
-- KEYS[15] levels   HASH  task id -> 'high' or 'low' (kept: a restarted task keeps its level)
-- ARGV[1] cancel channel (the message is the task id)
-- ARGV[2] task id
-- ARGV[3] now (unix ms)
-- ARGV[4] error record JSON for a task canceled before it ran again
-- Returns 1 canceled, 2 cancellation sent to the worker running it, 0 nothing to cancel (finished or unknown).
--#include chunks
--#include pending
local id = ARGV[2]
if redis.call('ZSCORE', KEYS[3], id) then
  redis.call('SADD', KEYS[6], id)
  redis.call('PUBLISH', ARGV[1], id)
  return 2
end
if redis.call('ZREM', KEYS[2], id) == 0 and redis.call('ZREM', KEYS[9], id) == 0 and redis.call('ZREM', KEYS[10], id) == 0
  and remove_pending({ KEYS[13], KEYS[1], KEYS[14] }, KEYS[15], id) == 0 then
  return 0
end
redis.call('HDEL', KEYS[11], id)
redis.call('HDEL', KEYS[12], id)
if redis.call('HEXISTS', KEYS[7], id) == 0 then return 0 end
redis.call('HSET', KEYS[5], id, ARGV[4])
redis.call('HDEL', KEYS[8], id)
redis.call('ZADD', KEYS[4], ARGV[3], id)
return 1

-- Records a failed attempt, if the worker still holds the lease: schedules a retry, or makes it a failure record.
-- KEYS[1] active     ZSET  task id -> lease deadline
-- KEYS[2] owners     HASH  task id -> worker id
-- KEYS[3] retry      ZSET  task id -> time the retry is due (unix ms)
-- KEYS[4] failed     ZSET  task id -> failure time (unix ms)
-- KEYS[5] errors     HASH  task id -> error record JSON of the last attempt
-- KEYS[6] attempts   HASH  task id -> attempts that failed and were retried (one more with a retry; removed when the task fails for good)
-- KEYS[7] tasks      HASH  task id -> envelope JSON (removed with evicted failure records)
-- KEYS[8] unique     HASH  unique key -> task id (released when the task fails for good)
-- KEYS[9] recoveries HASH  task id -> recoveries (removed when the task fails for good)
-- KEYS[10] canceled  SET   ids whose cancellation was asked (removed)
-- KEYS[11] dependents HASH task id -> the tasks that wait for it (depend.lua); kept, for a retry of this task
-- KEYS[12] handover  LIST  outcomes to hand over to waiting tasks: '<queue>\t<id>\tf\t<waiting queue>\t<waiting id>\t<policy>'
-- KEYS[13] limits    HASH  flow control (fetch.lua): under a concurrency limit, the place this attempt held is announced free
-- KEYS[14] levels    HASH  task id -> priority level (kept for a retry or restart; removed with evicted failure records)
-- KEYS[15] remaining HASH  task id -> dependencies not settled yet, of a task canceled by a failed dependency (removed
--                          with its evicted failure record)
-- KEYS[16] settled   HASH  task id -> outcomes of its dependencies known so far (likewise)
-- ARGV[1] task id
-- ARGV[2] worker id
-- ARGV[3] now (unix ms)
-- ARGV[4] error record JSON
-- ARGV[5] retry due time (unix ms), or 0 to fail the task for good
-- ARGV[6] most failure records kept; the oldest beyond it are removed
-- ARGV[7] the task's unique key, or ''
-- ARGV[8] wake channel: a retry due before any other of the queue is published there as 'due:<unix ms>'
-- ARGV[9] the name of this queue (for the hand-over lines)
-- Returns 1 when recorded, 2 when it failed for good and tasks wait for it (their hand-over is queued), 0 when the
-- worker no longer holds the lease (nothing written).
--#include handover
local id = ARGV[1]
if redis.call('HGET', KEYS[2], id) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], id)
-- A place came free in a queue at its concurrency limit: workers held back by it fetch again.
local limit = tonumber(redis.call('HGET', KEYS[13], 'concurrency'))
if limit and redis.call('ZCARD', KEYS[1]) + 1 >= limit then redis.call('PUBLISH', ARGV[8], 'free') end
redis.call('HDEL', KEYS[2], id)
redis.call('HSET', KEYS[5], id, ARGV[4])
redis.call('SREM', KEYS[10], id)
if tonumber(ARGV[5]) > 0 then
  redis.call('ZADD', KEYS[3], ARGV[5], id)
  redis.call('HINCRBY', KEYS[6], id, 1)
  if redis.call('ZRANGE', KEYS[3], 0, 0)[1] == id then
    redis.call('PUBLISH', ARGV[8], 'due:' .. ARGV[5])
  end
  return 1
end
redis.call('HDEL', KEYS[6], id)
redis.call('HDEL', KEYS[9], id)
if ARGV[7] ~= '' and redis.call('HGET', KEYS[8], ARGV[7]) == id then
  redis.call('HDEL', KEYS[8], ARGV[7])
end
redis.call('ZADD', KEYS[4], ARGV[3], id)
local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[6])
if over > 0 then
  if over > 100 then over = 100 end
  for _, old in ipairs(redis.call('ZRANGE', KEYS[4], 0, over - 1)) do
    redis.call('ZREM', KEYS[4], old)
    redis.call('HDEL', KEYS[5], old)
    redis.call('HDEL', KEYS[7], old)
    redis.call('HDEL', KEYS[14], old)
    redis.call('HDEL', KEYS[15], old)
    redis.call('HDEL', KEYS[16], old)
  end
end
-- dependents is kept: Restart-TqTask of this task brings back the tasks it canceled (requeue.lua).
if queue_handover(KEYS[12], ARGV[9], id, 'f', redis.call('HGET', KEYS[11], id)) then return 2 end
return 1

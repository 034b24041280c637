-- Puts a failed task back in the pending list of its priority level with a fresh attempt count (Restart-TqTask); a
-- task waiting to be retried goes too, at once, with a fresh count.
-- KEYS[1] failed     ZSET  task id -> failure time
-- KEYS[2] errors     HASH  task id -> error record JSON (removed)
-- KEYS[3] attempts   HASH  task id -> attempts that failed and were retried (removed)
-- KEYS[4] tasks      HASH  task id -> envelope JSON
-- KEYS[5] pending    LIST  task ids of priority normal
-- KEYS[6] recoveries HASH  task id -> recoveries (removed)
-- KEYS[7] canceled   SET   ids whose cancellation was asked (removed)
-- KEYS[8] dependents HASH  task id -> the tasks that wait for it (kept when it fails, for this)
-- KEYS[9] handover   LIST  outcomes to hand over: here 'r' lines, which bring back the tasks canceled because it failed
-- KEYS[10] pending-high LIST task ids of priority high
-- KEYS[11] pending-low  LIST task ids of priority low
-- KEYS[12] levels    HASH  task id -> 'high' or 'low' (see lib/pending.lua): a retried task keeps its level
-- KEYS[13] retry     ZSET  task id -> due time of its next attempt (a retrying task is taken from it)
-- ARGV[1] wake channel
-- ARGV[2] task id
-- ARGV[3] the name of this queue (for the hand-over lines)
-- ARGV[4] the task's envelope made due again (Restart-TqTask; signed again when it was signed), or '' to keep it
-- Returns 1 when requeued, 2 when requeued and tasks canceled because it failed are to be brought back (hand-over
-- queued), 0 when the task is neither a failure record nor retrying, -1 when its envelope is gone.
--#include chunks
--#include pending
--#include handover
local id = ARGV[2]
local from = KEYS[1]
if not redis.call('ZSCORE', from, id) then
  from = KEYS[13]
  if not redis.call('ZSCORE', from, id) then return 0 end
end
if redis.call('HEXISTS', KEYS[4], id) == 0 then return -1 end
if ARGV[4] and ARGV[4] ~= '' then redis.call('HSET', KEYS[4], id, ARGV[4]) end
redis.call('ZREM', from, id)
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[6], id)
redis.call('SREM', KEYS[7], id)
if push_pending({ KEYS[10], KEYS[5], KEYS[11] }, KEYS[12], { id }, 1, false) == 0 then
  redis.call('PUBLISH', ARGV[1], 1)
end
-- Only a task that failed for good canceled the tasks waiting for it.
if from == KEYS[1] and queue_handover(KEYS[9], ARGV[3], id, 'r', redis.call('HGET', KEYS[8], id)) then return 2 end
return 1

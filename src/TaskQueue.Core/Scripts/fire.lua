-- Fires one occurrence of a recurring schedule, exactly once however many workers try: only the caller
-- that saw the current due time moves it on; that caller also enqueues the occurrence's task.
-- KEYS[1] schedule-due  ZSET  schedule name -> due time of its next occurrence (unix ms)
-- KEYS[2] schedule-runs HASH  schedule name -> JSON of its last run
-- KEYS[3] tasks         HASH  task id -> envelope JSON
-- KEYS[4] pending       LIST  task ids of priority normal
-- KEYS[5] pending-high  LIST  task ids of priority high
-- KEYS[6] pending-low   LIST  task ids of priority low
-- KEYS[7] levels        HASH  task id -> 'high' or 'low' (see lib/pending.lua)
-- ARGV[1] wake channel
-- ARGV[2] schedule name
-- ARGV[3] the due time the caller saw (unix ms)
-- ARGV[4] due time of the occurrence after it (unix ms), or -1 when there is none
-- ARGV[5] JSON of this run (signed like the task when the schedule is), or '' to move the due time only
-- ARGV[6] task id, or '' to skip this occurrence
-- ARGV[7] envelope JSON of the task, or ''
-- ARGV[8] the task's priority level: 'high', 'low' or '' (normal)
-- Returns 1 when this caller fired the occurrence, 0 when another did (or the schedule changed).
--#include chunks
--#include pending
local current = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not current or tonumber(current) ~= tonumber(ARGV[3]) then return 0 end
if tonumber(ARGV[4]) < 0 then
  redis.call('ZREM', KEYS[1], ARGV[2])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[5]) end
if ARGV[6] ~= '' and redis.call('HSETNX', KEYS[3], ARGV[6], ARGV[7]) == 1 then
  if ARGV[8] ~= '' then redis.call('HSET', KEYS[7], ARGV[6], ARGV[8]) end
  if push_pending({ KEYS[5], KEYS[4], KEYS[6] }, KEYS[7], { ARGV[6] }, 1, false) == 0 then redis.call('PUBLISH', ARGV[1], 1) end
end
return 1

-- Stores a task that waits for others (Send-TqTask -DependsOn): pending at once when they all succeeded, a failure
-- record at once when one failed and the task is to be cancelled then, else waiting until the last outcome is
-- handed over (settle.lua). Outcomes handed over before the task was stored are in settled already, and count.
-- KEYS[1] tasks     HASH  task id -> envelope JSON
-- KEYS[2] waiting   ZSET  task id -> time it began to wait (unix ms)
-- KEYS[3] remaining HASH  task id -> dependencies whose outcome is not known yet
-- KEYS[4] settled   HASH  task id -> outcomes known so far, one line each: '\n<dep queue>/<dep id>=s' (or =f)
-- KEYS[5] pending   LIST  task ids of priority normal
-- KEYS[6] failed    ZSET  task id -> failure time
-- KEYS[7] errors    HASH  task id -> error record JSON
-- KEYS[8] pending-high LIST task ids of priority high
-- KEYS[9] pending-low  LIST task ids of priority low
-- KEYS[10] levels   HASH  task id -> 'high' or 'low' (see lib/pending.lua)
-- ARGV[1] wake channel
-- ARGV[2] task id
-- ARGV[3] envelope JSON
-- ARGV[4] policy when a dependency fails: 'Cancel' or 'Run'
-- ARGV[5] now (unix ms)
-- ARGV[6], ARGV[7] the error record JSON of a cancellation, before and after the failed dependency's name
-- ARGV[8] the task's priority level: 'high', 'low' or '' (normal)
-- ARGV[9], ARGV[10], ... pairs of dependency ('<queue>/<id>') and what depend.lua said of it ('s', 'f' or 'w')
-- Returns 0 the id exists, 1 pending, 2 canceled (a dependency failed), 3 waiting.
--#include chunks
--#include pending
local id = ARGV[2]
if redis.call('HEXISTS', KEYS[1], id) == 1 then return 0 end
redis.call('HSET', KEYS[1], id, ARGV[3])
if ARGV[8] ~= '' then redis.call('HSET', KEYS[10], id, ARGV[8]) end
local settled = redis.call('HGET', KEYS[4], id) or ''
local open, failed = 0, nil
for i = 9, #ARGV, 2 do
  local mark = '\n' .. ARGV[i] .. '='
  local at = string.find(settled, mark, 1, true)
  local outcome = at and string.sub(settled, at + #mark, at + #mark) or nil
  if not outcome and (ARGV[i + 1] == 's' or ARGV[i + 1] == 'f') then
    outcome = ARGV[i + 1]
    settled = settled .. mark .. outcome
  end
  if not outcome then open = open + 1 elseif outcome == 'f' and not failed then failed = ARGV[i] end
end
if failed and ARGV[4] == 'Cancel' then
  -- As settle.lua cancels: the failed dependency not counted, so that a retry of it brings the task back.
  local mark = '\n' .. failed .. '=f'
  local at = string.find(settled, mark, 1, true)
  if at then settled = string.sub(settled, 1, at - 1) .. string.sub(settled, at + #mark) end
  redis.call('HSET', KEYS[4], id, settled)
  redis.call('HSET', KEYS[3], id, open + 1)
  redis.call('ZADD', KEYS[6], ARGV[5], id)
  redis.call('HSET', KEYS[7], id, ARGV[6] .. failed .. ARGV[7])
  return 2
end
if open == 0 then
  redis.call('HDEL', KEYS[4], id)
  if push_pending({ KEYS[8], KEYS[5], KEYS[9] }, KEYS[10], { id }, 1, false) == 0 then redis.call('PUBLISH', ARGV[1], 1) end
  return 1
end
redis.call('HSET', KEYS[4], id, settled)
redis.call('HSET', KEYS[3], id, open)
redis.call('ZADD', KEYS[2], ARGV[5], id)
return 3

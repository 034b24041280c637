-- Hands over one dependency's outcome to a task that waits for it: the last success makes it pending; a failure
-- cancels it (policy Cancel) or counts as settled (policy Run). A duplicate hand-over changes nothing, so a worker
-- that died between recording the outcome and handing it over is replaced by any other that hands it over again.
-- A retried dependency ('r') brings back a task it had canceled, which then waits for it again.
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
-- KEYS[11] succeeded ZSET task id -> completion time (a waiting task that ran and succeeded already)
-- ARGV[1] wake channel
-- ARGV[2] id of the waiting task
-- ARGV[3] the dependency: '<queue>/<id>'
-- ARGV[4] its outcome: 's' succeeded, 'f' failed for good, 'r' retried (Restart-TqTask)
-- ARGV[5] the waiting task's policy: 'Cancel' or 'Run'
-- ARGV[6] now (unix ms)
-- ARGV[7], ARGV[8] the error record JSON of a cancellation, before and after the failed dependency's name
-- Returns 0 nothing changed (handed over before, or the task no longer waits), 1 pending, 2 canceled, 3 still waiting,
-- 4 recorded for a task not stored yet (hold.lua reads it), 5 brought back to waiting.
--#include chunks
--#include pending
local id = ARGV[2]
local mark = '\n' .. ARGV[3] .. '='
local outcome = ARGV[4]
local settled = redis.call('HGET', KEYS[4], id) or ''

-- A task deleted while waiting (delete.lua): strike this dependency out; the entry goes with the last one.
if string.sub(settled, 1, 8) == '!deleted' then
  if outcome == 'r' then return 0 end
  local entry = '\n?' .. (string.match(ARGV[3], '([^/]+)$') or '') .. '\n'
  local at = string.find(settled .. '\n', entry, 1, true)
  if not at then return 0 end
  settled = string.sub(settled, 1, at - 1) .. string.sub(settled, at + #entry - 1)
  if settled == '!deleted' then redis.call('HDEL', KEYS[4], id) else redis.call('HSET', KEYS[4], id, settled) end
  return 0
end

if outcome == 'r' then
  -- Only a task this dependency canceled (its record names it), that no other failed dependency keeps canceled.
  if not redis.call('ZSCORE', KEYS[6], id) or redis.call('HEXISTS', KEYS[3], id) == 0 then return 0 end
  local record = redis.call('HGET', KEYS[7], id) or ''
  if not string.find(record, '"reason":"DependencyFailed"', 1, true) or not string.find(record, ARGV[3], 1, true) then return 0 end
  if string.find(settled, '=f', 1, true) then return 0 end
  redis.call('ZREM', KEYS[6], id)
  redis.call('HDEL', KEYS[7], id)
  redis.call('ZADD', KEYS[2], ARGV[6], id)
  return 5
end

if string.find(settled, mark, 1, true) then return 0 end
if not redis.call('ZSCORE', KEYS[2], id) then
  if redis.call('HEXISTS', KEYS[1], id) == 0 then
    -- Ran and succeeded already: a late duplicate, with nothing left to count.
    if redis.call('ZSCORE', KEYS[11], id) then return 0 end
    -- Not stored yet: hold.lua reads it.
    redis.call('HSET', KEYS[4], id, settled .. mark .. outcome)
    return 4
  end
  -- Released, running or ended already (nothing left to count), or canceled by a failed dependency: then the
  -- outcome is kept for when that dependency is retried and brings the task back.
  if redis.call('HEXISTS', KEYS[3], id) == 0 then return 0 end
  redis.call('HSET', KEYS[4], id, settled .. mark .. outcome)
  if outcome == 's' then redis.call('HINCRBY', KEYS[3], id, -1) end
  return 0
end
if outcome == 'f' and ARGV[5] == 'Cancel' then
  -- remaining and settled stay as they are (this outcome not counted): a retry of the dependency brings the task back.
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[6], ARGV[6], id)
  redis.call('HSET', KEYS[7], id, ARGV[7] .. ARGV[3] .. ARGV[8])
  return 2
end
if redis.call('HINCRBY', KEYS[3], id, -1) > 0 then
  redis.call('HSET', KEYS[4], id, settled .. mark .. outcome)
  return 3
end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
if push_pending({ KEYS[8], KEYS[5], KEYS[9] }, KEYS[10], { id }, 1, false) == 0 then redis.call('PUBLISH', ARGV[1], 1) end
return 1

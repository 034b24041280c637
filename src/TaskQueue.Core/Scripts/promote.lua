-- Moves retries and scheduled tasks that are due to the pending lists of their priority levels.
-- KEYS[1] retry     ZSET  task id -> due time of its next attempt (unix ms)
-- KEYS[2] pending   LIST  task ids of priority normal (pushed at the head, behind the tasks already waiting)
-- KEYS[3] scheduled ZSET  task id -> time it becomes pending (unix ms)
-- KEYS[4] pending-high LIST task ids of priority high
-- KEYS[5] pending-low  LIST task ids of priority low
-- KEYS[6] levels    HASH  task id -> 'high' or 'low' (see lib/pending.lua)
-- ARGV[1] wake channel
-- ARGV[2] now (unix ms)
-- ARGV[3] most tasks to move from each set in this call
-- Returns { tasks moved, due time of the earliest task left in either set (unix ms) or -1 when none is left }.
--#include chunks
--#include pending
local lists = { KEYS[4], KEYS[2], KEYS[5] }
local moved = 0
local before = nil
local nextDue = -1
local keys = { KEYS[1], KEYS[3] }
local due, any = {}, false
for i, key in ipairs(keys) do
  due[i] = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
  if #due[i] > 0 then any = true end
end
-- The key type check (added at load) runs only when there is something to write: an idle queue pays nothing for it.
if any then
--#typecheck
end
for i, key in ipairs(keys) do
  local ids = due[i]
  if #ids > 0 then
    variadic('ZREM', key, ids)
    local waited = push_pending(lists, KEYS[6], ids, #ids, false)
    before = before or waited
  end
  moved = moved + #ids
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if head[2] then
    local due = tonumber(head[2])
    if nextDue < 0 or due < nextDue then nextDue = due end
  end
end
if moved > 0 and before == 0 then
  redis.call('PUBLISH', ARGV[1], moved)
end
return { moved, nextDue }

-- Moves retries and scheduled tasks that are due to the pending list.
-- KEYS[1] retry     ZSET  task id -> due time of its next attempt (unix ms)
-- KEYS[2] pending   LIST  task ids (pushed at the head, behind the tasks already waiting)
-- KEYS[3] scheduled ZSET  task id -> time it becomes pending (unix ms)
-- ARGV[1] wake channel
-- ARGV[2] now (unix ms)
-- ARGV[3] most tasks to move from each set in this call
-- Returns { tasks moved, due time of the earliest task left in either set (unix ms) or -1 when none is left }.
local moved = 0
local nextDue = -1
for _, key in ipairs({ KEYS[1], KEYS[3] }) do
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
  for _, id in ipairs(ids) do
    redis.call('ZREM', key, id)
    redis.call('LPUSH', KEYS[2], id)
  end
  moved = moved + #ids
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if head[2] then
    local due = tonumber(head[2])
    if nextDue < 0 or due < nextDue then nextDue = due end
  end
end
if moved > 0 and redis.call('LLEN', KEYS[2]) == moved then
  redis.call('PUBLISH', ARGV[1], moved)
end
return { moved, nextDue }

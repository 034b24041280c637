-- Moves retries that are due to the pending list.
-- KEYS[1] retry   ZSET  task id -> due time (unix ms)
-- KEYS[2] pending LIST  task ids (pushed at the head, behind the tasks already waiting)
-- ARGV[1] wake channel
-- ARGV[2] now (unix ms)
-- ARGV[3] most tasks to move in this call
-- Returns { tasks moved, due time of the earliest retry left (unix ms) or -1 when none is left }.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('LPUSH', KEYS[2], id)
end
if #ids > 0 and redis.call('LLEN', KEYS[2]) == #ids then
  redis.call('PUBLISH', ARGV[1], #ids)
end
local nextDue = -1
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if head[2] then nextDue = tonumber(head[2]) end
return { #ids, nextDue }

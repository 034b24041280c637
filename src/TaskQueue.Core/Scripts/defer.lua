-- Gives leased tasks back for later: from active to scheduled, due at ARGV[3], the attempt not counted. A worker
-- does this with a task whose envelope version it cannot run, so that a newer worker of the fleet takes it (a
-- rolling upgrade, docs/PROTOCOL.md "Versions"); the delay keeps an older worker from taking it straight back.
-- KEYS[1] active     ZSET  task id -> lease deadline
-- KEYS[2] owners     HASH  task id -> worker id
-- KEYS[3] scheduled  ZSET  task id -> time it becomes pending (unix ms)
-- ARGV[1] wake channel: the tasks' places under a concurrency limit are free (a count), and a due time before any
--         other of the queue is published as 'due:<unix ms>'
-- ARGV[2] worker id
-- ARGV[3] due time (unix ms)
-- ARGV[4], ARGV[5], ... task ids
-- Returns the number of tasks given back (tasks whose lease the worker lost are skipped). Their priority level
-- stays in levels, where promote.lua finds it.
local moved = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[2] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZADD', KEYS[3], ARGV[3], id)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('PUBLISH', ARGV[1], moved)
  if tonumber(redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]) == tonumber(ARGV[3]) then
    redis.call('PUBLISH', ARGV[1], 'due:' .. ARGV[3])
  end
end
return moved

-- Hands leased tasks back to the front of the pending list (worker shutdown); the attempt is not counted
-- (attempt numbers count only attempts that failed or whose worker died).
-- KEYS[1] active   ZSET  task id -> lease deadline
-- KEYS[2] owners   HASH  task id -> worker id
-- KEYS[3] pending  LIST  task ids (pushed at the tail, so they are taken next)
-- ARGV[1] wake channel
-- ARGV[2] worker id
-- ARGV[3], ARGV[4], ... task ids
-- Returns the number of tasks handed back (tasks whose lease the worker lost are skipped).
local moved = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[2] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('RPUSH', KEYS[3], id)
    moved = moved + 1
  end
end
-- Always when tasks moved: they also free places under a concurrency limit (fetch-8).
if moved > 0 then
  redis.call('PUBLISH', ARGV[1], moved)
end
return moved

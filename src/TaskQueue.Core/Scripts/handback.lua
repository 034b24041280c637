-- Hands leased tasks back to the front of the pending lists of their priority levels (worker shutdown); the attempt
-- is not counted (attempt numbers count only attempts that failed or whose worker died).
-- KEYS[1] active   ZSET  task id -> lease deadline
-- KEYS[2] owners   HASH  task id -> worker id
-- KEYS[3] pending  LIST  task ids of priority normal (pushed at the tail, so they are taken next)
-- KEYS[4] pending-high LIST task ids of priority high
-- KEYS[5] pending-low  LIST task ids of priority low
-- KEYS[6] levels   HASH  task id -> 'high' or 'low' (see lib/pending.lua)
-- ARGV[1] wake channel
-- ARGV[2] worker id
-- ARGV[3], ARGV[4], ... task ids
-- Returns the number of tasks handed back (tasks whose lease the worker lost are skipped).
--#include chunks
--#include pending
local moved = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[2] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    moved[#moved + 1] = id
  end
end
push_pending({ KEYS[4], KEYS[3], KEYS[5] }, KEYS[6], moved, #moved, true)
-- Always when tasks moved: they also free places under a concurrency limit (fetch.lua).
if #moved > 0 then
  redis.call('PUBLISH', ARGV[1], #moved)
end
return #moved

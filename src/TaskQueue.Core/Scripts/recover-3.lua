-- Moves tasks whose lease ran out (their worker died or hung) back to the front of the pending list.
-- KEYS[1] active  ZSET  task id -> lease deadline (unix ms)
-- KEYS[2] owners  HASH  task id -> worker id
-- KEYS[3] pending LIST  task ids (pushed at the tail, so they are taken next)
-- ARGV[1] wake channel
-- ARGV[2] now (unix ms)
-- ARGV[3] most tasks to move in this call
-- Returns the ids moved.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('RPUSH', KEYS[3], id)
end
if #ids > 0 and redis.call('LLEN', KEYS[3]) == #ids then
  redis.call('PUBLISH', ARGV[1], #ids)
end
return ids

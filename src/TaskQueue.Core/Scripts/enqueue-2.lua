-- Stores new tasks and appends them to the pending list.
-- KEYS[1] tasks   HASH  task id -> envelope JSON
-- KEYS[2] pending LIST  task ids; enqueue at the head (LPUSH), workers take from the tail
-- ARGV[1] wake channel, published to when the pending list was empty before this call
-- ARGV[2], ARGV[3], ... pairs of task id, envelope JSON
-- Returns an array with one integer per task: 1 stored, 0 refused because the id exists.
local stored = {}
local added = 0
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[i])
    added = added + 1
    stored[#stored + 1] = 1
  else
    stored[#stored + 1] = 0
  end
end
if added > 0 and redis.call('LLEN', KEYS[2]) == added then
  redis.call('PUBLISH', ARGV[1], added)
end
return stored

-- Removes success and failure records older than their retention, for queues that record nothing new for a while
-- (recording a success also trims; see complete.lua). A worker runs it once a minute per queue.
-- KEYS[1] succeeded ZSET  task id -> completion time (unix ms)
-- KEYS[2] results   HASH  task id -> success record JSON
-- KEYS[3] failed    ZSET  task id -> failure time (unix ms)
-- KEYS[4] errors    HASH  task id -> error record JSON
-- KEYS[5] tasks     HASH  task id -> envelope JSON (a failure record's task goes with it)
-- KEYS[6] levels    HASH  task id -> priority level of a task that is not normal (goes with it too)
-- KEYS[7] remaining HASH  task id -> dependencies not settled yet, kept for a task canceled by a failed dependency
--                         until that dependency is retried (goes with its record)
-- KEYS[8] settled   HASH  task id -> outcomes of its dependencies known so far (likewise)
-- ARGV[1] success records completed before this time (unix ms) are removed
-- ARGV[2] failure records failed before this time (unix ms) are removed
-- ARGV[3] most records of each kind to remove in this call
-- Returns { success records removed, failure records removed }.
local function evict(index, hashes, before)
  local old = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. before, 'LIMIT', 0, tonumber(ARGV[3]))
  if #old == 0 then return 0 end
  redis.call('ZREM', index, unpack(old))
  for _, hash in ipairs(hashes) do redis.call('HDEL', hash, unpack(old)) end
  return #old
end
return { evict(KEYS[1], { KEYS[2] }, ARGV[1]), evict(KEYS[3], { KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8] }, ARGV[2]) }

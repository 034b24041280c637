-- Records successful attempts, each only if the worker still holds its lease, and trims old success records.
-- KEYS[1] active     ZSET  task id -> lease deadline
-- KEYS[2] owners     HASH  task id -> worker id
-- KEYS[3] succeeded  ZSET  task id -> completion time (unix ms)
-- KEYS[4] results    HASH  task id -> success record JSON
-- KEYS[5] tasks      HASH  task id -> envelope JSON (removed: the record carries what it needs)
-- KEYS[6] attempts   HASH  task id -> attempts started (removed)
-- KEYS[7] unique     HASH  unique key -> task id (released when the task holds it)
-- KEYS[8] recoveries HASH  task id -> recoveries (removed)
-- KEYS[9] canceled   SET   ids whose cancellation was asked (removed)
-- ARGV[1] worker id
-- ARGV[2] (unused, kept for the layout of ARGV)
-- ARGV[3] records completed before this time (unix ms) are removed
-- ARGV[4] most success records kept
-- ARGV[5], ARGV[6], ... quadruples of task id, success record JSON, the task's unique key ('' for none),
--         and its completion time (unix ms), the score that orders success records
-- Returns one integer per task: 1 recorded, 0 the worker no longer holds the lease (nothing written for it).
local out = {}
local recorded = 0
for i = 5, #ARGV, 4 do
  local id, record, unique, completed = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HGET', KEYS[2], id) == ARGV[1] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
    redis.call('HDEL', KEYS[8], id)
    redis.call('SREM', KEYS[9], id)
    if unique ~= '' and redis.call('HGET', KEYS[7], unique) == id then
      redis.call('HDEL', KEYS[7], unique)
    end
    redis.call('ZADD', KEYS[3], completed, id)
    redis.call('HSET', KEYS[4], id, record)
    recorded = recorded + 1
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end

local function evict(ids)
  for _, old in ipairs(ids) do
    redis.call('ZREM', KEYS[3], old)
    redis.call('HDEL', KEYS[4], old)
  end
end
local budget = recorded + 100
evict(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3], 'LIMIT', 0, budget))
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if over > 0 then
  if over > budget then over = budget end
  evict(redis.call('ZRANGE', KEYS[3], 0, over - 1))
end
return out

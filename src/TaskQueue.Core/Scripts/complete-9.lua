-- Records a successful attempt, if the worker still holds the lease, and trims old success records.
-- KEYS[1] active     ZSET  task id -> lease deadline
-- KEYS[2] owners     HASH  task id -> worker id
-- KEYS[3] succeeded  ZSET  task id -> completion time (unix ms)
-- KEYS[4] results    HASH  task id -> success record JSON
-- KEYS[5] tasks      HASH  task id -> envelope JSON (removed: the record carries what it needs)
-- KEYS[6] attempts   HASH  task id -> attempts started (removed)
-- KEYS[7] unique     HASH  unique key -> task id (released when this task holds it)
-- KEYS[8] recoveries HASH  task id -> recoveries (removed)
-- KEYS[9] canceled   SET   ids whose cancellation was asked (removed)
-- ARGV[1] task id
-- ARGV[2] worker id
-- ARGV[3] now (unix ms)
-- ARGV[4] success record JSON
-- ARGV[5] records completed before this time (unix ms) are removed
-- ARGV[6] most success records kept
-- ARGV[7] the task's unique key, or ''
-- Returns 1 when recorded, 0 when the worker no longer holds the lease (nothing written).
local id = ARGV[1]
if redis.call('HGET', KEYS[2], id) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[5], id)
redis.call('HDEL', KEYS[6], id)
redis.call('HDEL', KEYS[8], id)
redis.call('SREM', KEYS[9], id)
if ARGV[7] ~= '' and redis.call('HGET', KEYS[7], ARGV[7]) == id then
  redis.call('HDEL', KEYS[7], ARGV[7])
end
redis.call('ZADD', KEYS[3], ARGV[3], id)
redis.call('HSET', KEYS[4], id, ARGV[4])

local function evict(ids)
  for _, old in ipairs(ids) do
    redis.call('ZREM', KEYS[3], old)
    redis.call('HDEL', KEYS[4], old)
  end
end
evict(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[5], 'LIMIT', 0, 100))
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[6])
if over > 0 then
  if over > 100 then over = 100 end
  evict(redis.call('ZRANGE', KEYS[3], 0, over - 1))
end
return 1

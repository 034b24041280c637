-- Extends the leases a worker holds (its heartbeat), and tells it which of them were lost or canceled.
-- KEYS[1] active   ZSET  task id -> lease deadline
-- KEYS[2] owners   HASH  task id -> worker id
-- KEYS[3] canceled SET   ids whose cancellation was asked (Stop-TqTask)
-- ARGV[1] worker id
-- ARGV[2] new lease deadline (unix ms)
-- ARGV[3], ARGV[4], ... task ids the worker believes it holds
-- Returns a flat array of pairs: task id, and 'lost' (the worker no longer holds it) or 'canceled'.
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[1] and redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    if redis.call('SISMEMBER', KEYS[3], id) == 1 then
      out[#out + 1] = id
      out[#out + 1] = 'canceled'
    end
  else
    out[#out + 1] = id
    out[#out + 1] = 'lost'
  end
end
return out

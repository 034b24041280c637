-- Extends the leases a worker holds (its heartbeat).
-- KEYS[1] active ZSET  task id -> lease deadline
-- KEYS[2] owners HASH  task id -> worker id
-- ARGV[1] worker id
-- ARGV[2] new lease deadline (unix ms)
-- ARGV[3], ARGV[4], ... task ids the worker believes it holds
-- Returns the ids whose lease the worker no longer holds.
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[1] and redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
  else
    lost[#lost + 1] = id
  end
end
return lost

-- Reads task envelopes up to a size, for views that show a task's name beside its record (the dashboard's failures):
-- a page of them then costs at most that much per task, however large the tasks are. Changes nothing.
-- KEYS[1] tasks   HASH  task id -> envelope JSON
-- ARGV[1] largest envelope to return, in bytes
-- ARGV[2..] task ids
-- Returns one entry per id: the envelope when it is at most ARGV[1] bytes, else its length in bytes (0 when missing).
local limit = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local size = redis.call('HSTRLEN', KEYS[1], ARGV[i])
  if size > 0 and size <= limit then
    out[i - 1] = redis.call('HGET', KEYS[1], ARGV[i])
  else
    out[i - 1] = size
  end
end
return out

-- Moves tasks whose lease ran out (their worker died or hung) back to the front of the pending lists of their
-- priority levels.
-- KEYS[1] active     ZSET  task id -> lease deadline (unix ms)
-- KEYS[2] owners     HASH  task id -> worker id
-- KEYS[3] pending    LIST  task ids of priority normal (pushed at the tail, so they are taken next)
-- KEYS[4] recoveries HASH  task id -> times this happened to the task (incremented)
-- KEYS[5] pending-high LIST task ids of priority high
-- KEYS[6] pending-low  LIST task ids of priority low
-- KEYS[7] levels     HASH  task id -> 'high' or 'low' (see lib/pending.lua)
-- ARGV[1] wake channel
-- ARGV[2] now (unix ms)
-- ARGV[3] most tasks to move in this call
-- Returns { flat array of pairs: id moved, and the worker that held it; the earliest lease deadline left (unix ms), or -1
-- when no task is leased }: when to look again.
--#include chunks
--#include pending
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
-- The key type check (added at load) runs only when there is something to write: an idle queue pays nothing for it.
if #ids > 0 then
--#typecheck
end
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HINCRBY', KEYS[4], id, 1)
end
push_pending({ KEYS[5], KEYS[3], KEYS[6] }, KEYS[7], ids, #ids, true)
-- Always when tasks moved: they also free places under a concurrency limit (fetch.lua).
if #ids > 0 then
  redis.call('PUBLISH', ARGV[1], #ids)
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return { out, head[2] and tonumber(head[2]) or -1 }

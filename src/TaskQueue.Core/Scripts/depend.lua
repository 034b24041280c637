-- Registers a task that waits for tasks of this queue (Send-TqTask -DependsOn), or says that they ended already.
-- KEYS[1] dependents HASH  task id -> the tasks that wait for it, one line each: '<queue>\t<id>\t<policy>\n'
-- KEYS[2] succeeded  ZSET  task id -> completion time
-- KEYS[3] failed     ZSET  task id -> failure time
-- KEYS[4] tasks      HASH  task id -> envelope JSON
-- ARGV[1] the waiting task's line: '<queue>\t<id>\t<policy>' (policy Cancel or Run)
-- ARGV[2], ARGV[3], ... ids of the tasks of this queue it waits for
-- Returns per id: 's' it succeeded already, 'f' it failed for good already (registered too), 'w' registered (its
-- outcome is handed over when it ends), 'u' no such task (nor a failure whose envelope is gone).
local line = ARGV[1] .. '\n'
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[2], id) then
    out[#out + 1] = 's'
  elseif redis.call('HEXISTS', KEYS[4], id) == 1 then
    -- Registered also when it failed already: a retry of it (requeue.lua) brings back a task it canceled.
    local waiting = redis.call('HGET', KEYS[1], id) or ''
    if not string.find(waiting, line, 1, true) then redis.call('HSET', KEYS[1], id, waiting .. line) end
    out[#out + 1] = redis.call('ZSCORE', KEYS[3], id) and 'f' or 'w'
  else
    out[#out + 1] = 'u'
  end
end
return out

-- Deletes a task that is not running, in whatever state it waits or ended: pending, scheduled, waiting, retrying,
-- failed or succeeded (Remove-TqTask, and Delete on the dashboard). A running task is left alone: stop it first.
-- KEYS[1]  pending    LIST  task ids of priority normal
-- KEYS[2]  scheduled  ZSET  task id -> due time
-- KEYS[3]  retry      ZSET  task id -> due time
-- KEYS[4]  active     ZSET  task id -> lease deadline (only read)
-- KEYS[5]  failed     ZSET  task id -> failure time
-- KEYS[6]  succeeded  ZSET  task id -> completion time
-- KEYS[7]  tasks      HASH  task id -> envelope JSON
-- KEYS[8]  attempts   HASH  task id -> attempts that failed and were retried
-- KEYS[9]  errors     HASH  task id -> error record JSON
-- KEYS[10] results    HASH  task id -> success record JSON
-- KEYS[11] recoveries HASH  task id -> recoveries
-- KEYS[12] unique     HASH  unique key -> task id (released only when this task holds it)
-- KEYS[13] waiting    ZSET  task id -> time it began to wait for others
-- KEYS[14] remaining  HASH  task id -> dependencies not settled yet
-- KEYS[15] settled    HASH  task id -> outcomes of its dependencies known so far
-- KEYS[16] pending-high LIST task ids of priority high
-- KEYS[17] pending-low  LIST task ids of priority low
-- KEYS[18] levels     HASH  task id -> 'high' or 'low'
-- ARGV[1] task id
-- ARGV[2] the task's unique key ('' for none)
-- Returns 1 when deleted, 0 when there is no such task, -1 when it is running (nothing is changed).
--#include chunks
--#include pending
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[4], id) then return -1 end

-- A task deleted while its dependencies have not all ended (waiting, or canceled by a failed one): their outcomes
-- still come (settle.lua). Its settled entry becomes '!deleted' and a line '\n?<dependency id>' per outcome not in
-- yet; settle.lua strikes them out and removes the entry with the last, so nothing is left behind.
local function outcomes_to_come()
  if redis.call('HEXISTS', KEYS[14], id) == 0 then return '' end
  local body = redis.call('HGET', KEYS[7], id)
  if not body then return '' end
  if string.sub(body, 1, 5) == 'sig1:' then body = string.sub(body, (string.find(body, '\n', 1, true) or #body) + 1) end
  local ok, task = pcall(cjson.decode, body)
  if not ok or type(task) ~= 'table' or type(task.dependsOn) ~= 'table' then return '' end
  local settled = redis.call('HGET', KEYS[15], id) or ''
  -- The dependency whose failure canceled it has handed its outcome over already; its record names it.
  local canceled_by = redis.call('HGET', KEYS[9], id) or ''
  local left = ''
  for _, dependency in ipairs(task.dependsOn) do
    local dep = type(dependency) == 'table' and dependency.id
    if type(dep) == 'string' and not string.find(settled, '/' .. dep .. '=', 1, true)
        and not string.find(canceled_by, '/' .. dep, 1, true) then
      left = left .. '\n?' .. dep
    end
  end
  return left
end
local to_come = outcomes_to_come()
local found = 0
found = found + remove_pending({ KEYS[16], KEYS[1], KEYS[17] }, KEYS[18], id)
redis.call('HDEL', KEYS[18], id)
found = found + redis.call('ZREM', KEYS[2], id)
found = found + redis.call('ZREM', KEYS[3], id)
found = found + redis.call('ZREM', KEYS[5], id)
found = found + redis.call('ZREM', KEYS[6], id)
found = found + redis.call('ZREM', KEYS[13], id)
redis.call('HDEL', KEYS[14], id)
if to_come ~= '' then redis.call('HSET', KEYS[15], id, '!deleted' .. to_come) else redis.call('HDEL', KEYS[15], id) end
found = found + redis.call('HDEL', KEYS[7], id)
redis.call('HDEL', KEYS[8], id)
found = found + redis.call('HDEL', KEYS[9], id)
found = found + redis.call('HDEL', KEYS[10], id)
redis.call('HDEL', KEYS[11], id)
if ARGV[2] ~= '' and redis.call('HGET', KEYS[12], ARGV[2]) == id then
  redis.call('HDEL', KEYS[12], ARGV[2])
end
if found > 0 then return 1 end
return 0

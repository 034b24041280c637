-- The hand-over of an outcome to the tasks that wait for it, shared by complete.lua, fail.lua and requeue.lua.
-- Queues one line per waiting task in the handover LIST: '<queue>\t<id>\t<outcome>\t<waiting line>', where waiting
-- holds the lines depend.lua wrote for the task (one per waiting task: '<queue>\t<id>\t<policy>') and outcome is 's'
-- (succeeded), 'f' (failed for good) or 'r' (retried). settle.lua applies each line; the caller's worker hands them
-- over at once, and any worker that looks at the queue later does what a dead one left.
-- Returns whether any task waits (false when waiting is nil).
local function queue_handover(handover, queue, id, outcome, waiting)
  if not waiting then return false end
  for line in string.gmatch(waiting, '([^\n]+)') do
    redis.call('RPUSH', handover, queue .. '\t' .. id .. '\t' .. outcome .. '\t' .. line)
  end
  return true
end

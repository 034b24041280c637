-- Pending tasks wait in one list per priority level (Send-TqTask -Priority), shared by scripts that include "pending"
-- after "chunks". A script passes the three lists as a table in the order they are served, { high, normal, low },
-- and the levels HASH (task id -> 'high' or 'low'; a task missing from it is normal, as most are, so a queue that
-- never had another level has no levels key and pays one EXISTS). In every list, tasks enter at the head (LPUSH) and
-- are taken from the tail; a task that goes first within its level is pushed at the tail. fetch.lua says which list
-- is taken from.
local LEVEL_LIST = { high = 1, low = 3 }

-- How many tasks wait in the three lists together. Every task in the high or low list has its entry in levels, so a
-- queue without a levels key has only the normal list to count.
local function pending_count(lists, levels)
  if redis.call('EXISTS', levels) == 0 then return redis.call('LLEN', lists[2]) end
  return redis.call('LLEN', lists[1]) + redis.call('LLEN', lists[2]) + redis.call('LLEN', lists[3])
end

-- The index in lists (1 high, 2 normal, 3 low) of each of the first n ids, by their level.
local function levels_of(levels, ids, n)
  local at = {}
  if n > 0 and redis.call('EXISTS', levels) == 1 then
    local found = hmget(levels, ids, n)
    for i = 1, n do at[i] = LEVEL_LIST[found[i]] or 2 end
  else
    for i = 1, n do at[i] = 2 end
  end
  return at
end

-- Pushes the first n ids to the lists of their levels, in their order: at the head, behind the tasks already
-- waiting, or with at_tail at the tail, to be taken next within their level. Returns how many tasks waited in the
-- three lists before, so that a caller can wake workers when that was none (-1 when there is nothing to push).
local function push_pending(lists, levels, ids, n, at_tail)
  if n == 0 then return -1 end
  local before = pending_count(lists, levels)
  local at = levels_of(levels, ids, n)
  local by = { {}, {}, {} }
  local counts = { 0, 0, 0 }
  for i = 1, n do
    local l = at[i]
    counts[l] = counts[l] + 1
    by[l][counts[l]] = ids[i]
  end
  for l = 1, 3 do
    if counts[l] > 0 then variadic(at_tail and 'RPUSH' or 'LPUSH', lists[l], by[l]) end
  end
  return before
end

-- Takes one task out of the pending list of its level, wherever it waits in it. Returns 1 when it was there, else 0.
local function remove_pending(lists, levels, id)
  return redis.call('LREM', lists[levels_of(levels, { id }, 1)[1]], 0, id)
end

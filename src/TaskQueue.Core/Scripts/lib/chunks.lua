-- Helpers for commands over many items at once, shared by scripts that include "chunks" (RedisScript.ResolveIncludes).
-- unpack puts every item on Lua's stack, whose size is limited: commands go in chunks of CHUNK items.
local CHUNK = 1000

-- Calls a variadic command on a key with the items of a list, in chunks.
local function variadic(command, key, items)
  for from = 1, #items, CHUNK do
    redis.call(command, key, unpack(items, from, math.min(from + CHUNK - 1, #items)))
  end
end

-- HMGET of the first n ids on a key, in chunks: the values in the order of the ids (false where missing).
local function hmget(key, ids, n)
  local values = {}
  for from = 1, n, CHUNK do
    local part = redis.call('HMGET', key, unpack(ids, from, math.min(from + CHUNK - 1, n)))
    for j = 1, math.min(CHUNK, n - from + 1) do values[from + j - 1] = part[j] end
  end
  return values
end

-- The task ids of a call whose ARGV from position first on holds groups of stride values, each led by an id:
-- the ids in order, and how many.
local function ids_of(first, stride)
  local ids, n = {}, 0
  for i = first, #ARGV, stride do
    n = n + 1
    ids[n] = ARGV[i]
  end
  return ids, n
end

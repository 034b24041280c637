-- Reads everything known about one task, atomically.
-- KEYS[1]  tasks      HASH  task id -> envelope JSON
-- KEYS[2]  attempts   HASH  task id -> attempts that failed and were retried
-- KEYS[3]  owners     HASH  task id -> worker id holding its lease
-- KEYS[4]  active     ZSET  task id -> lease deadline
-- KEYS[5]  retry      ZSET  task id -> due time of its next attempt
-- KEYS[6]  succeeded  ZSET  task id -> completion time
-- KEYS[7]  failed     ZSET  task id -> failure time
-- KEYS[8]  results    HASH  task id -> success record JSON
-- KEYS[9]  errors     HASH  task id -> failure record JSON
-- KEYS[10] scheduled  ZSET  task id -> time it becomes pending
-- KEYS[11] recoveries HASH  task id -> times its worker died under it
-- KEYS[12] waiting    ZSET  tasks that wait for others (-DependsOn)
-- ARGV[1] task id
-- Returns { state, envelope, attempts started, owner, score, record }: state is one of
-- 'succeeded', 'failed', 'active', 'retrying', 'scheduled', 'waiting', 'pending' or 'unknown'; missing values are '' (attempts: 0).
-- score is the lease deadline, retry or schedule due time, or completion time (unix ms) for those states.
local id = ARGV[1]
local envelope = redis.call('HGET', KEYS[1], id) or ''
-- Attempts started: those that failed and were retried, those whose worker died, and the running one.
local attempts = (tonumber(redis.call('HGET', KEYS[2], id)) or 0) + (tonumber(redis.call('HGET', KEYS[11], id)) or 0)
local owner = redis.call('HGET', KEYS[3], id) or ''
local score = redis.call('ZSCORE', KEYS[6], id)
if score then return { 'succeeded', envelope, attempts, owner, score, redis.call('HGET', KEYS[8], id) or '' } end
score = redis.call('ZSCORE', KEYS[7], id)
if score then return { 'failed', envelope, attempts, owner, score, redis.call('HGET', KEYS[9], id) or '' } end
score = redis.call('ZSCORE', KEYS[4], id)
if score then return { 'active', envelope, attempts + 1, owner, score, '' } end
score = redis.call('ZSCORE', KEYS[5], id)
if score then return { 'retrying', envelope, attempts, owner, score, redis.call('HGET', KEYS[9], id) or '' } end
score = redis.call('ZSCORE', KEYS[10], id)
if score then return { 'scheduled', envelope, attempts, owner, score, '' } end
score = redis.call('ZSCORE', KEYS[12], id)
if score then return { 'waiting', envelope, attempts, owner, score, '' } end
if envelope ~= '' then return { 'pending', envelope, attempts, owner, '', '' } end
return { 'unknown', '', '', '', '', '' }

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Connection;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

namespace TaskQueue.Core.Broker;

/// <summary>
/// The state changes of tasks: each one atomic call, a Lua script (docs/PROTOCOL.md) or, for a batch of new tasks that
/// needs no checks, one MULTI/EXEC. Beside them, in stores of their own on the same connection: <see cref="Reads"/>
/// (what a task, a queue or its records look like, changing nothing), <see cref="Schedules"/>, <see cref="Workers"/>
/// (the registry of live workers) and <see cref="Statistics"/> (counters for the dashboard and /metrics). Nothing
/// else in the code base talks to Redis about tasks.
/// </summary>
public sealed partial class RedisBroker
{
    private readonly ConcurrentDictionary<string, QueueKeys> _keys = new(StringComparer.Ordinal);

    /// <summary>A broker on the process's shared connection for a configuration string (RedisConnections.Resolve's default
    /// when null), timed by Redis's clock (<see cref="RedisClock"/>).</summary>
    public static RedisBroker Connect(string? configuration, BrokerOptions? options = null)
    {
        var connection = RedisConnections.Get(configuration);
        return new(connection, options, RedisClock.For(connection));
    }

    public RedisBroker(IConnectionMultiplexer connection, BrokerOptions? options = null, IClock? clock = null)
    {
        Connection = connection;
        Options = options ?? new BrokerOptions();
        Clock = clock ?? SystemClock.Instance;
        Reads = new TaskReads(this);
        Schedules = new ScheduleStore(this);
        Workers = new WorkerRegistry(this);
        Statistics = new QueueStatistics(this);
        Shards = new QueueShards(this);
        Limits = new QueueLimits(this);
        Replication = new Replication(this);
    }

    public IConnectionMultiplexer Connection { get; }
    public BrokerOptions Options { get; }
    public IClock Clock { get; }

    /// <summary>Tasks, queues and records as they are: every read that changes nothing.</summary>
    public TaskReads Reads { get; }
    /// <summary>Recurring schedules: stored, listed, fired.</summary>
    public ScheduleStore Schedules { get; }
    /// <summary>Live workers: their heartbeats and descriptions.</summary>
    public WorkerRegistry Workers { get; }
    /// <summary>Finished-task counters per minute and in total.</summary>
    public QueueStatistics Statistics { get; }
    /// <summary>Sharded queues: how many shards a queue has, and which shard holds a task.</summary>
    public QueueShards Shards { get; }
    /// <summary>Flow control: suspended queues, concurrency and rate limits.</summary>
    public QueueLimits Limits { get; }

    /// <summary>Whether writes reached replicas (Redis WAIT, -WaitReplicas) and, through Sentinel, stayed on the primary.</summary>
    public Replication Replication { get; }

    internal IDatabase Db => Connection.GetDatabase();

    public QueueKeys Keys(string queue) => _keys.GetOrAdd(queue, q => new QueueKeys(q));

    /// <summary>Runs a script of the protocol on a queue's keys, as the script lists them.</summary>
    internal Task<RedisResult> RunAsync(QueueScript script, QueueKeys keys, params RedisValue[] args)
    {
        var names = script.KeysOf(keys);
        return CheckKeyTypesAsync(names, () => script.Script.EvaluateAsync(Db, names, args));
    }

    /// <summary>
    /// Runs a call on <paramref name="keys"/>; a WRONGTYPE error (a key someone else wrote with another type) becomes a
    /// <see cref="QueueKeyTypeException"/> naming the key and both types.
    /// </summary>
    internal async Task<T> CheckKeyTypesAsync<T>(RedisKey[] keys, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.IndexOf("WRONGTYPE", StringComparison.Ordinal) >= 0)
        {
            throw await DiagnoseWrongTypeAsync(keys, ex).ConfigureAwait(false);
        }
    }

    private async Task<Exception> DiagnoseWrongTypeAsync(RedisKey[] keys, RedisServerException error)
    {
        var expected = new Dictionary<string, RedisType>();
        foreach (var queue in _keys.Values)
            foreach (var (key, type) in queue.Expected()) expected[key!] = type;
        foreach (var key in keys)
        {
            if (!expected.TryGetValue(key!, out var want)) continue;
            var actual = await Db.KeyTypeAsync(key).ConfigureAwait(false);
            if (actual != RedisType.None && actual != want)
                return new QueueKeyTypeException(key!, want, actual, error);
        }
        return error;
    }

    /// <summary>
    /// Stores tasks of one queue, pipelined in batches of <see cref="BrokerOptions.EnqueueBatchSize"/>, each batch one
    /// atomic call. Returns what happened to each task, in order.
    /// </summary>
    /// <remarks>
    /// A task without an id gets a new random one (a GUID), which no stored task can hold. A batch of several such
    /// tasks, with no unique key and due now, is stored with plain commands in one MULTI/EXEC (HSET, LPUSH), as
    /// docs/PROTOCOL.md describes for any client: there is no id to check and no key to claim, and that costs Redis
    /// less than half of what the enqueue script costs. Any other batch goes through the script, which checks both.
    /// </remarks>
    public async Task<EnqueueOutcome[]> EnqueueAsync(string queue, IReadOnlyList<TaskEnvelope> tasks)
    {
        var keys = Keys(queue);
        var logical = QueueName.Logical(queue);
        foreach (var task in tasks)
        {
            if (task.Queue != logical) throw new ArgumentException($"Task {task.Id} belongs to queue '{task.Queue}', not '{logical}'.");
        }
        if (!QueueName.IsShard(queue) && await Shards.CountAsync(queue).ConfigureAwait(false) is var shards && shards > 1)
            return await EnqueueShardedAsync(queue, tasks, shards).ConfigureAwait(false);
        return await EnqueueOneAsync(queue, tasks).ConfigureAwait(false);
    }

    /// <summary>Stores tasks in one queue or shard (the body of <see cref="EnqueueAsync"/>).</summary>
    private async Task<EnqueueOutcome[]> EnqueueOneAsync(string queue, IReadOnlyList<TaskEnvelope> tasks, ISet<string>? minted = null)
    {
        var keys = Keys(queue);
        var logical = QueueName.Logical(queue);
        var outcomes = new EnqueueOutcome[tasks.Count];

        Task<bool>? registered = null;
        var size = Math.Max(1, Options.EnqueueBatchSize);
        // Each batch is serialised and sent before the next is serialised, so Redis stores one batch while
        // this thread encodes the next. Only the positions of a sent batch are kept here, not its JSON: held to the
        // end of a large call, the JSON of every batch outlived the young generation and made each collection a
        // full one.
        var batches = new List<(int[] Positions, Task<EnqueueOutcome[]> Call)>();
        var batch = new List<Storing>(size);
        void Send()
        {
            if (batch.Count == 0) return;
            registered ??= Db.SetAddAsync(QueueKeys.Queues, logical);
            // A lone task goes through the script even so: the script publishes the wake-up within the same call,
            // one round trip sooner, and a single task is where the wait of an idle worker shows.
            var plain = batch.Count > 1 && batch.TrueForAll(t => t.NeedsNoCheck);
            var positions = new int[batch.Count];
            for (var k = 0; k < positions.Length; k++) positions[k] = batch[k].Index;
            batches.Add((positions, plain ? StorePlainAsync(keys, batch) : StoreCheckedAsync(keys, batch)));
            batch = new List<Storing>(size);
        }
        for (var i = 0; i < tasks.Count; i++)
        {
            var task = tasks[i];
            var isNew = task.Id.Length == 0 || (minted is not null && minted.Contains(task.Id));
            if (task.Id.Length == 0) task.Id = TaskIds.NewId();
            var json = Stored(task);
            if (json.Length > Options.MaxTaskBytes)
            {
                outcomes[i] = new EnqueueOutcome(EnqueueStatus.TooLarge, bytes: json.Length);
                continue;
            }
            // Rounded up to the millisecond: the task must not start before the time it was given.
            var due = task.NotBefore is { } notBefore && notBefore > Clock.UtcNow ? notBefore.ToUnixMsNotBefore() : 0;
            batch.Add(new Storing(i, task.Id, json, task.UniqueKey ?? "", due, task.Level, isNew));
            if (batch.Count == size) Send();
        }
        Send();
        if (registered is null) return outcomes;

        await registered.ConfigureAwait(false);
        return await GatherAsync(batches, outcomes).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for the calls that store parts of an enqueue and puts each outcome at its task's position. When some
    /// call failed: the failure itself if nothing was confirmed, else <see cref="EnqueueInterruptedException"/> with
    /// what is known (a part that was itself interrupted gives what it knows).
    /// </summary>
    private static async Task<EnqueueOutcome[]> GatherAsync(IReadOnlyList<(int[] Positions, Task<EnqueueOutcome[]> Call)> calls, EnqueueOutcome[] outcomes)
    {
        Exception? failure = null;
        var confirmed = 0;
        var sent = 0;
        foreach (var (positions, call) in calls)
        {
            sent += positions.Length;
            try
            {
                var stored = await call.ConfigureAwait(false);
                for (var j = 0; j < positions.Length; j++) outcomes[positions[j]] = stored[j];
                confirmed += positions.Length;
            }
            catch (EnqueueInterruptedException ex) when (ex.Outcomes.Count == positions.Length)
            {
                failure ??= ex.InnerException ?? ex;
                for (var j = 0; j < positions.Length; j++) outcomes[positions[j]] = ex.Outcomes[j];
                confirmed += ex.Confirmed;
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        }
        if (failure is not null && confirmed == 0)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        if (failure is not null)
            throw new EnqueueInterruptedException(outcomes, confirmed, sent - confirmed, failure);
        return outcomes;
    }

    /// <summary>The tasks of a sharded queue, each to its shard (<see cref="QueueShards.Place"/>), the shards at the same time.</summary>
    private async Task<EnqueueOutcome[]> EnqueueShardedAsync(string queue, IReadOnlyList<TaskEnvelope> tasks, int shards)
    {
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var minted = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < tasks.Count; i++)
        {
            var task = tasks[i];
            // The id decides the shard, so it is drawn here; the shard's call stores it as a new id all the same
            // (no stored task can hold it: nothing to check).
            if (task.Id.Length == 0)
            {
                task.Id = TaskIds.NewId();
                minted.Add(task.Id);
            }
            var shard = QueueShards.Place(queue, shards, task.Id, task.UniqueKey);
            if (!groups.TryGetValue(shard, out var positions)) groups[shard] = positions = new List<int>();
            positions.Add(i);
        }
        var calls = groups.Select(g => (g.Value.ToArray(), EnqueueOneAsync(g.Key, g.Value.Select(p => tasks[p]).ToList(), minted))).ToList();
        return await GatherAsync(calls, new EnqueueOutcome[tasks.Count]).ConfigureAwait(false);
    }

    /// <summary>A task of an enqueue call on its way to Redis: where it stands in the call, and what is stored.</summary>
    private readonly struct Storing
    {
        public Storing(int index, string id, byte[] json, string uniqueKey, long dueMs, string level, bool minted)
        {
            Index = index;
            Id = id;
            Json = json;
            UniqueKey = uniqueKey;
            DueMs = dueMs;
            Level = level;
            NeedsNoCheck = minted && uniqueKey.Length == 0 && dueMs == 0 && level.Length == 0;
        }

        public int Index { get; }
        public string Id { get; }
        public byte[] Json { get; }
        public string UniqueKey { get; }
        /// <summary>When it becomes pending (unix ms), or 0 for now.</summary>
        public long DueMs { get; }
        /// <summary>Its priority level as the scripts name it ("high", "low"; "" for Normal).</summary>
        public string Level { get; }
        /// <summary>A new id of the broker's, due now, no unique key, priority Normal: nothing for the script to check.</summary>
        public bool NeedsNoCheck { get; }
    }

    /// <summary>One batch through the enqueue script, which checks ids and unique keys and schedules delayed tasks.</summary>
    private async Task<EnqueueOutcome[]> StoreCheckedAsync(QueueKeys keys, List<Storing> batch)
    {
        var args = new RedisValue[1 + 5 * batch.Count];
        args[0] = keys.WakeChannel;
        for (var k = 0; k < batch.Count; k++)
        {
            args[1 + 5 * k] = batch[k].Id;
            args[2 + 5 * k] = batch[k].Json;
            args[3 + 5 * k] = batch[k].UniqueKey;
            args[4 + 5 * k] = batch[k].DueMs;
            args[5 + 5 * k] = batch[k].Level;
        }
        var flags = (RedisResult[])(await RunAsync(Scripts.Enqueue, keys, args).ConfigureAwait(false))!;
        var outcomes = new EnqueueOutcome[flags.Length];
        for (var j = 0; j < flags.Length; j++)
        {
            var flag = flags[j];
            outcomes[j] = flag.Resp2Type == ResultType.BulkString
                ? new EnqueueOutcome(EnqueueStatus.Duplicate, (string?)flag)
                : new EnqueueOutcome(ScriptReply.Code(Scripts.Enqueue, flag, (1L, EnqueueStatus.Stored), (0L, EnqueueStatus.IdExists)));
        }
        return outcomes;
    }

    /// <summary>
    /// One batch of new ids, due now, without unique keys: HSET and LPUSH in one MULTI/EXEC, then the wake-up when
    /// the list was empty before.
    /// </summary>
    private async Task<EnqueueOutcome[]> StorePlainAsync(QueueKeys keys, List<Storing> batch)
    {
        var count = batch.Count;
        var bodies = new HashEntry[count];
        var ids = new RedisValue[count];
        for (var k = 0; k < count; k++)
        {
            ids[k] = batch[k].Id;
            bodies[k] = new HashEntry(ids[k], batch[k].Json);
        }
        var transaction = Db.CreateTransaction();
        var stored = transaction.HashSetAsync(keys.Tasks, bodies);
        var pushed = transaction.ListLeftPushAsync(keys.Pending, ids);
        var executed = transaction.ExecuteAsync();
        var length = await CheckKeyTypesAsync(new[] { keys.Tasks, keys.Pending }, async () =>
        {
            await executed.ConfigureAwait(false);
            await stored.ConfigureAwait(false);
            return await pushed.ConfigureAwait(false);
        }).ConfigureAwait(false);
        // The list held only this batch: wake idle workers (a lost wake-up costs them at most a second).
        if (length == count) Db.Publish(RedisChannel.Literal(keys.WakeChannel), count, CommandFlags.FireAndForget);
        var outcomes = new EnqueueOutcome[count];
        for (var k = 0; k < count; k++) outcomes[k] = new EnqueueOutcome(EnqueueStatus.Stored);
        return outcomes;
    }

    /// <summary>Leases up to <paramref name="max"/> pending tasks to a worker until <paramref name="leaseDeadline"/>.</summary>
    public async Task<IReadOnlyList<LeasedTask>> FetchAsync(string queue, string workerId, int max, DateTimeOffset leaseDeadline) =>
        (await LeaseAsync(queue, workerId, max, leaseDeadline).ConfigureAwait(false)).Tasks;

    /// <summary>
    /// Leases up to <paramref name="max"/> pending tasks, and says how many are left in the list and when the first
    /// lease of the queue runs out (null when no task is leased): what a worker needs to know to look at the queue
    /// again only when something can have changed.
    /// </summary>
    internal async Task<FetchReply> LeaseAsync(string queue, string workerId, int max, DateTimeOffset leaseDeadline)
    {
        var keys = Keys(queue);
        var result = (RedisResult[])(await RunAsync(Scripts.Fetch, keys,
            new RedisValue[] { workerId, leaseDeadline.ToUnixMs(), max, Clock.UtcNow.ToUnixMs() }).ConfigureAwait(false))!;
        // Pairs of id and envelope, then the triples (position, attempt, recoveries) of tasks past their first
        // attempt, then the tasks left, the earliest lease deadline and what holds the queue back.
        var count = (result.Length - 4) / 2;
        var left = (long)result[result.Length - 3];
        var earliest = (long)result[result.Length - 2];
        var hold = (long)result[result.Length - 1];
        var firstLease = earliest < 0 ? (DateTimeOffset?)null : ClockExtensions.FromUnixMs(earliest);
        if (count == 0) return new FetchReply(Array.Empty<LeasedTask>(), left, firstLease, hold);
        var attempts = new int[count];
        var recoveries = new int[count];
        var later = (RedisResult[])result[2 * count]!;
        for (var i = 0; i + 2 < later.Length; i += 3)
        {
            var at = (int)later[i] - 1;
            attempts[at] = (int)later[i + 1];
            recoveries[at] = (int)later[i + 2];
        }
        var leased = new LeasedTask[count];
        for (var i = 0; i < count; i++)
            leased[i] = new LeasedTask(queue, (string)result[2 * i]!, (byte[]?)result[2 * i + 1] ?? Array.Empty<byte>(),
                Math.Max(1, attempts[i]), recoveries[i]);
        return new FetchReply(leased, left, firstLease, hold);
    }

    /// <summary>Writes the success record. False when the worker lost the lease (nothing was written).</summary>
    public async Task<bool> CompleteAsync(string workerId, TaskResult result, string? uniqueKey = null) =>
        (await CompleteAsync(workerId, new[] { (result, uniqueKey) }).ConfigureAwait(false))[0];

    /// <summary>
    /// Writes the success records of tasks of one queue in one script call. Per task: false when the worker
    /// lost the lease (nothing was written for it).
    /// </summary>
    public async Task<bool[]> CompleteAsync(string workerId, IReadOnlyList<(TaskResult Result, string? UniqueKey)> completions)
    {
        if (completions.Count == 0) return Array.Empty<bool>();
        var keys = Keys(completions[0].Result.Queue);
        var now = Clock.UtcNow;
        var oldest = now - Options.SuccessRetention;
        var args = new RedisValue[5 + 4 * completions.Count];
        args[0] = workerId;
        args[1] = oldest.ToUnixMs();
        args[2] = Options.MaxSuccessRecords;
        args[3] = keys.Queue;
        args[4] = keys.WakeChannel;
        for (var i = 0; i < completions.Count; i++)
        {
            var (result, uniqueKey) = completions[i];
            if (result.Queue != keys.Queue) throw new ArgumentException("All completions of one call must belong to one queue.");
            args[5 + 4 * i] = result.Id;
            args[6 + 4 * i] = RecordProof.Store(result, Options.Signing);
            args[7 + 4 * i] = uniqueKey ?? "";
            args[8 + 4 * i] = result.CompletedAt.ToUnixMs();
        }
        var flags = (RedisResult[])(await RunAsync(Scripts.Complete, keys,
            args).ConfigureAwait(false))!;
        var codes = flags.Select(f => ScriptReply.Code(Scripts.Complete, f, (1L, 1), (2L, 2), (0L, 0))).ToArray();
        // Tasks wait for some of these: hand their outcomes over now (settle.lua); what a crash leaves in the
        // hand-over list, the next look at the queue hands over.
        if (codes.Contains(2)) await HandOverAsync(keys.Queue).ConfigureAwait(false);
        return codes.Select(c => c > 0).ToArray();
    }

    /// <summary>Records a failed attempt: a retry at <paramref name="retryAt"/>, or a failure record when it is null.</summary>
    public async Task<bool> FailAsync(string workerId, TaskError error, DateTimeOffset? retryAt, string? uniqueKey = null)
    {
        var keys = Keys(error.Queue);
        error.RetryAt = retryAt;
        var done = await RunAsync(Scripts.Fail, keys,
            new RedisValue[] { error.Id, workerId, error.FailedAt.ToUnixMs(), RecordProof.Store(error, Options.Signing), retryAt?.ToUnixMs() ?? 0, Options.MaxFailureRecords, uniqueKey ?? "", keys.WakeChannel, keys.Queue })
            .ConfigureAwait(false);
        var code = ScriptReply.Code(Scripts.Fail, done, (1L, 1), (2L, 2), (0L, 0));
        if (code == 2) await HandOverAsync(keys.Queue).ConfigureAwait(false);
        return code > 0;
    }

    /// <summary>What a worker warns through when it sets a record aside (the worker's log; nothing by default).</summary>
    public Action<string> Warn { get; set; } = _ => { };

    /// <summary>
    /// Puts a record no worker can use in the queue's dead-letter list (QueueKeys.DeadLetters), newest first and at most
    /// QueueKeys.MaxDeadLetters, and warns once: the queue goes on without it, and an operator can read it there.
    /// </summary>
    internal async Task SetAsideAsync(QueueKeys k, string kind, RedisValue record, string why)
    {
        var entry = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["kind"] = kind, ["record"] = (string?)record ?? "", ["why"] = why, ["at"] = Clock.UtcNow.ToString("o"),
        });
        var transaction = Db.CreateTransaction();
        _ = transaction.ListLeftPushAsync(k.DeadLetters, entry);
        _ = transaction.ListTrimAsync(k.DeadLetters, 0, QueueKeys.MaxDeadLetters - 1);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        Warn($"Queue '{k.Queue}': a {kind} record was set aside in {k.DeadLetters} ({why}); the queue goes on without it.");
    }

    /// <summary>
    /// Removes success and failure records older than <see cref="BrokerOptions.SuccessRetention"/> and
    /// <see cref="BrokerOptions.FailureRetention"/>, at most <paramref name="limit"/> of each per call.
    /// </summary>
    public async Task<(long Successes, long Failures)> TrimRecordsAsync(string queue, int limit = 1000)
    {
        var k = Keys(queue);
        var now = Clock.UtcNow;
        var removed = (RedisResult[])(await RunAsync(Scripts.Trim, k,
            new RedisValue[] { (now - Options.SuccessRetention).ToUnixMs(), (now - Options.FailureRetention).ToUnixMs(), limit }).ConfigureAwait(false))!;
        return ((long)removed[0], (long)removed[1]);
    }

    /// <summary>Hands leased tasks back to the front of the queue without counting the attempt; returns how many went back.</summary>
    public async Task<long> HandBackAsync(string queue, string workerId, IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0) return 0;
        var keys = Keys(queue);
        var args = new List<RedisValue> { keys.WakeChannel, workerId };
        args.AddRange(ids.Select(id => (RedisValue)id));
        return (long)await RunAsync(Scripts.HandBack, keys, args.ToArray()).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives leased tasks back for later (defer.lua): they become scheduled, due at <paramref name="due"/>, the attempt
    /// not counted. For tasks this worker cannot run (an envelope version it does not read), so a newer worker takes them.
    /// </summary>
    public async Task<long> DeferAsync(string queue, string workerId, IReadOnlyCollection<string> ids, DateTimeOffset due)
    {
        if (ids.Count == 0) return 0;
        var keys = Keys(queue);
        var args = new List<RedisValue> { keys.WakeChannel, workerId, due.ToUnixMs() };
        args.AddRange(ids.Select(id => (RedisValue)id));
        return (long)await RunAsync(Scripts.Defer, keys, args.ToArray()).ConfigureAwait(false);
    }

    /// <summary>Extends the leases a worker holds; returns the ids it no longer holds and those whose cancellation was asked.</summary>
    public async Task<(string[] Lost, string[] Canceled)> ExtendAsync(string queue, string workerId, IReadOnlyCollection<string> ids, DateTimeOffset leaseDeadline)
    {
        if (ids.Count == 0) return (Array.Empty<string>(), Array.Empty<string>());
        var keys = Keys(queue);
        var args = new List<RedisValue> { workerId, leaseDeadline.ToUnixMs() };
        args.AddRange(ids.Select(id => (RedisValue)id));
        var pairs = (RedisResult[])(await RunAsync(Scripts.Extend, keys, args.ToArray()).ConfigureAwait(false))!;
        var lost = new List<string>();
        var canceled = new List<string>();
        for (var i = 0; i + 1 < pairs.Length; i += 2)
        {
            var why = (string?)pairs[i + 1];
            var list = why == "lost" ? lost : why == "canceled" ? canceled : throw new UnexpectedScriptReplyException(Scripts.Extend.Name, why ?? "(nil)");
            list.Add((string)pairs[i]!);
        }
        return (lost.ToArray(), canceled.ToArray());
    }

    /// <summary>Moves tasks whose lease ran out back to pending; returns them with the worker that held each.</summary>
    public async Task<(string Id, string Worker)[]> RecoverAsync(string queue, int limit = 100) =>
        (await RecoverExpiredAsync(queue, limit).ConfigureAwait(false)).Moved;

    /// <summary>
    /// Moves tasks whose lease ran out back to pending: returns them with the worker that held each, and the lease
    /// that runs out next (null when no task is leased), when to look again.
    /// </summary>
    internal async Task<((string Id, string Worker)[] Moved, DateTimeOffset? NextDeadline)> RecoverExpiredAsync(string queue, int limit = 100)
    {
        var keys = Keys(queue);
        var reply = (RedisResult[])(await RunAsync(Scripts.Recover, keys,
            new RedisValue[] { keys.WakeChannel, Clock.UtcNow.ToUnixMs(), limit }).ConfigureAwait(false))!;
        var pairs = (RedisResult[])reply[0]!;
        var next = (long)reply[1];
        var moved = new (string, string)[pairs.Length / 2];
        for (var i = 0; i < moved.Length; i++) moved[i] = ((string)pairs[2 * i]!, (string?)pairs[2 * i + 1] ?? "");
        return (moved, next < 0 ? null : ClockExtensions.FromUnixMs(next));
    }

    /// <summary>Moves due retries and scheduled tasks to pending; returns how many moved and when the next one is due.</summary>
    public async Task<(long Moved, DateTimeOffset? NextDue)> PromoteAsync(string queue, int limit = 500)
    {
        var keys = Keys(queue);
        var result = (RedisResult[])(await RunAsync(Scripts.Promote, keys,
            new RedisValue[] { keys.WakeChannel, Clock.UtcNow.ToUnixMs(), limit }).ConfigureAwait(false))!;
        var nextDue = (long)result[1];
        return ((long)result[0], nextDue < 0 ? null : ClockExtensions.FromUnixMs(nextDue));
    }

    /// <summary>
    /// Puts a failed task back in the queue with a fresh attempt count, due again from now (Security.TaskFreshness:
    /// an unsigned task, or a signed one when <paramref name="keyring"/> is given, which signs it again).
    /// </summary>
    public async Task<RequeueOutcome> RequeueAsync(string queue, string id, SigningKeyring? keyring = null)
    {
        var keys = Keys(await Shards.LocateAsync(queue, id).ConfigureAwait(false));
        var stored = (byte[]?)await Db.HashGetAsync(keys.Tasks, id).ConfigureAwait(false);
        var restamped = stored is null ? null : TaskFreshness.Restamp(stored, keyring, Clock.UtcNow);
        var result = await RunAsync(Scripts.Requeue, keys,
            new RedisValue[] { keys.WakeChannel, id, keys.Queue, restamped ?? Array.Empty<byte>() }).ConfigureAwait(false);
        // 2: tasks that this one's failure canceled come back to wait for it (settle.lua 'r').
        if ((long)result == 2) await HandOverAsync(keys.Queue).ConfigureAwait(false);
        return ScriptReply.Code(Scripts.Requeue, result, (1L, RequeueOutcome.Requeued), (2L, RequeueOutcome.Requeued), (0L, RequeueOutcome.NotFailed), (-1L, RequeueOutcome.TaskMissing));
    }

    /// <summary>Puts every failure record of a queue back in its pending list, oldest first; returns how many went back.</summary>
    /// <remarks>
    /// Failures whose reason is in <paramref name="skipReasons"/> stay (the dashboard leaves Canceled and BadSignature
    /// alone unless asked), and so do those whose envelope <paramref name="signatures"/> refuses.
    /// </remarks>
    public async Task<long> RequeueAllAsync(string queue, int limit = 100_000, IReadOnlyCollection<string>? skipReasons = null, SignaturePolicy? signatures = null)
    {
        var shards = await Shards.OfAsync(queue).ConfigureAwait(false);
        if (shards.Length > 1)
        {
            var total = 0L;
            foreach (var shard in shards) total += await RequeueAllOneAsync(shard, (int)Math.Max(0, limit - total), skipReasons, signatures).ConfigureAwait(false);
            return total;
        }
        return await RequeueAllOneAsync(queue, limit, skipReasons, signatures).ConfigureAwait(false);
    }

    private async Task<long> RequeueAllOneAsync(string queue, int limit, IReadOnlyCollection<string>? skipReasons, SignaturePolicy? signatures)
    {
        var k = Keys(queue);
        var requeued = 0L;
        var kept = 0L;
        while (requeued < limit)
        {
            // Pages of the oldest failures: each one requeued leaves the set, those kept stay in front of the next page.
            var ids = await Db.SortedSetRangeByRankAsync(k.Failed, kept, kept + Math.Min(500, limit - requeued) - 1).ConfigureAwait(false);
            if (ids.Length == 0) break;
            var errors = skipReasons is { Count: > 0 } ? await Db.HashGetAsync(k.Errors, ids).ConfigureAwait(false) : null;
            var bodies = signatures?.Keyring is not null ? await Db.HashGetAsync(k.Tasks, ids).ConfigureAwait(false) : null;
            var chosen = new List<string>(ids.Length);
            for (var i = 0; i < ids.Length; i++)
            {
                var id = ids[i].ToString();
                var reason = errors is null ? null : TqJson.ReadError(errors[i])?.Reason;
                var refused = bodies is not null && (!bodies[i].HasValue || signatures!.Check((byte[])bodies[i]!, queue, id) is not null);
                if ((reason is not null && skipReasons!.Contains(reason)) || refused) kept++;
                else chosen.Add(id);
            }
            var outcomes = await Task.WhenAll(chosen.Select(id => RequeueAsync(queue, id, signatures?.Keyring))).ConfigureAwait(false);
            var moved = outcomes.Count(o => o == RequeueOutcome.Requeued);
            requeued += moved;
            kept += chosen.Count - moved;
            // Failures whose envelope is gone cannot go back; stop rather than read them again forever.
            if (moved < chosen.Count) break;
        }
        return requeued;
    }

    /// <summary>Deletes a task that is not running, with its records, whatever state it waits or ended in.</summary>
    public async Task<DeleteOutcome> DeleteAsync(string queue, string id)
    {
        var k = Keys(await Shards.LocateAsync(queue, id).ConfigureAwait(false));
        var envelope = (string?)await Db.HashGetAsync(k.Tasks, id).ConfigureAwait(false);
        string? uniqueKey = null;
        if (!string.IsNullOrEmpty(envelope))
        {
            try { uniqueKey = TqJson.ReadEnvelope(envelope!).UniqueKey; }
            catch (MalformedTaskException) { }
        }
        var result = await RunAsync(Scripts.Delete, k,
            new RedisValue[] { id, uniqueKey ?? "" }).ConfigureAwait(false);
        return ScriptReply.Code(Scripts.Delete, result, (1L, DeleteOutcome.Deleted), (0L, DeleteOutcome.NotFound), (-1L, DeleteOutcome.Running));
    }

    /// <summary>Cancels a task: pending or retrying ones become failure records; active ones are stopped by their worker.</summary>
    public async Task<CancelOutcome> CancelAsync(string queue, string id, string reason)
    {
        var k = Keys(await Shards.LocateAsync(queue, id).ConfigureAwait(false));
        var now = Clock.UtcNow;
        var error = new TaskError { Id = id, Queue = QueueName.Logical(queue), Reason = FailureReasons.Canceled, Permanent = true, Message = reason, FailedAt = now };
        var result = await RunAsync(Scripts.Cancel, k,
            new RedisValue[] { k.CancelChannel, id, now.ToUnixMs(), TqJson.Serialize(error) }).ConfigureAwait(false);
        return ScriptReply.Code(Scripts.Cancel, result, (1L, CancelOutcome.Canceled), (2L, CancelOutcome.StopRequested), (0L, CancelOutcome.NotCancelable));
    }

    /// <summary>The bytes a task is stored as: its JSON, behind a signature line when this broker signs.</summary>
    internal byte[] Stored(TaskEnvelope task)
    {
        if (Options.Signing is not { } keyring) return TqJson.SerializeToUtf8(task);
        if (!keyring.Covers(keyring.SigningKeyId, task.Queue))
            throw new SigningKeyException($"The signing key '{keyring.SigningKeyId}' is limited to other queues than '{task.Queue}' (New-TqSigningKey -Queue); sign with a key made for this queue.");
        task.Kid = keyring.SigningKeyId;
        return EnvelopeSignature.Sign(TqJson.SerializeToUtf8(task), keyring);
    }

}

public enum CancelOutcome
{
    /// <summary>The task was pending or retrying and is now a failure record.</summary>
    Canceled,
    /// <summary>The task is running; its worker was told to stop it.</summary>
    StopRequested,
    /// <summary>The task already finished, or does not exist.</summary>
    NotCancelable,
}

public enum DeleteOutcome
{
    Deleted,
    /// <summary>No task with this id in the queue.</summary>
    NotFound,
    /// <summary>A worker is running the task; nothing was deleted (stop it first).</summary>
    Running,
}

public enum RequeueOutcome
{
    Requeued,
    NotFailed,
    TaskMissing,
}

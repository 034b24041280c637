using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Connection;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Every read and write of task state. Each state change is one atomic call: a Lua script (docs/PROTOCOL.md), or,
/// for a batch of new tasks that needs no checks, one MULTI/EXEC. Nothing else in the code base talks to Redis about tasks.
/// </summary>
public sealed class RedisBroker
{
    private readonly ConcurrentDictionary<string, QueueKeys> _keys = new(StringComparer.Ordinal);

    /// <summary>A broker on the process's shared connection for a configuration string (RedisConnections.Resolve's default when null).</summary>
    public static RedisBroker Connect(string? configuration, BrokerOptions? options = null) => new(RedisConnections.Get(configuration), options);

    /// <summary>A task as stored (with its signature line, if any); null when its body is gone.</summary>
    public async Task<byte[]?> GetStoredTaskAsync(string queue, string id) =>
        (byte[]?)await Db.HashGetAsync(Keys(queue).Tasks, id).ConfigureAwait(false);

    public RedisBroker(IConnectionMultiplexer connection, BrokerOptions? options = null, IClock? clock = null)
    {
        Connection = connection;
        Options = options ?? new BrokerOptions();
        Clock = clock ?? SystemClock.Instance;
    }

    public IConnectionMultiplexer Connection { get; }
    public BrokerOptions Options { get; }
    public IClock Clock { get; }
    private IDatabase Db => Connection.GetDatabase();

    public QueueKeys Keys(string queue) => _keys.GetOrAdd(queue, q => new QueueKeys(q));

    /// <summary>Runs a script; a WRONGTYPE error becomes a <see cref="QueueKeyTypeException"/> naming the key.</summary>
    private async Task<RedisResult> Eval(RedisScript script, RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            return await script.EvaluateAsync(Db, keys, args).ConfigureAwait(false);
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
        var outcomes = new EnqueueOutcome[tasks.Count];
        foreach (var task in tasks)
        {
            if (task.Queue != queue) throw new ArgumentException($"Task {task.Id} belongs to queue '{task.Queue}', not '{queue}'.");
        }

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
            registered ??= Db.SetAddAsync(QueueKeys.Queues, queue);
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
            var minted = task.Id.Length == 0;
            if (minted) task.Id = TaskIds.NewId();
            var json = Stored(task);
            if (json.Length > Options.MaxTaskBytes)
            {
                outcomes[i] = new EnqueueOutcome(EnqueueStatus.TooLarge, bytes: json.Length);
                continue;
            }
            // Rounded up to the millisecond: the task must not start before the time it was given.
            var due = task.NotBefore is { } notBefore && notBefore > Clock.UtcNow ? notBefore.ToUnixMsNotBefore() : 0;
            batch.Add(new Storing(i, task.Id, json, task.UniqueKey ?? "", due, minted));
            if (batch.Count == size) Send();
        }
        Send();
        if (registered is null) return outcomes;

        await registered.ConfigureAwait(false);
        Exception? failure = null;
        var confirmed = 0;
        foreach (var (sent, call) in batches)
        {
            EnqueueOutcome[] stored;
            try
            {
                stored = await call.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure ??= ex;
                continue;
            }
            for (var j = 0; j < sent.Length; j++) outcomes[sent[j]] = stored[j];
            confirmed += sent.Length;
        }
        if (failure is not null && confirmed == 0)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        if (failure is not null)
            throw new EnqueueInterruptedException(outcomes, confirmed, batches.Sum(b => b.Positions.Length) - confirmed, failure);
        return outcomes;
    }

    /// <summary>A task of an enqueue call on its way to Redis: where it stands in the call, and what is stored.</summary>
    private readonly struct Storing
    {
        public Storing(int index, string id, byte[] json, string uniqueKey, long dueMs, bool minted)
        {
            Index = index;
            Id = id;
            Json = json;
            UniqueKey = uniqueKey;
            DueMs = dueMs;
            NeedsNoCheck = minted && uniqueKey.Length == 0 && dueMs == 0;
        }

        public int Index { get; }
        public string Id { get; }
        public byte[] Json { get; }
        public string UniqueKey { get; }
        /// <summary>When it becomes pending (unix ms), or 0 for now.</summary>
        public long DueMs { get; }
        /// <summary>A new id of the broker's, due now, no unique key: nothing for the script to check.</summary>
        public bool NeedsNoCheck { get; }
    }

    /// <summary>One batch through the enqueue script, which checks ids and unique keys and schedules delayed tasks.</summary>
    private async Task<EnqueueOutcome[]> StoreCheckedAsync(QueueKeys keys, List<Storing> batch)
    {
        var args = new RedisValue[1 + 4 * batch.Count];
        args[0] = keys.WakeChannel;
        for (var k = 0; k < batch.Count; k++)
        {
            args[1 + 4 * k] = batch[k].Id;
            args[2 + 4 * k] = batch[k].Json;
            args[3 + 4 * k] = batch[k].UniqueKey;
            args[4 + 4 * k] = batch[k].DueMs;
        }
        var flags = (RedisResult[])(await Eval(Scripts.Enqueue, new[] { keys.Tasks, keys.Pending, keys.Unique, keys.Failed, keys.Scheduled }, args).ConfigureAwait(false))!;
        var outcomes = new EnqueueOutcome[flags.Length];
        for (var j = 0; j < flags.Length; j++)
        {
            var flag = flags[j];
            outcomes[j] = flag.Resp2Type == ResultType.BulkString
                ? new EnqueueOutcome(EnqueueStatus.Duplicate, (string?)flag)
                : new EnqueueOutcome((long)flag == 1 ? EnqueueStatus.Stored : EnqueueStatus.IdExists);
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
        try
        {
            await executed.ConfigureAwait(false);
            await stored.ConfigureAwait(false);
            // The list held only this batch: wake idle workers (a lost wake-up costs them at most a second).
            if (await pushed.ConfigureAwait(false) == count)
                Db.Publish(RedisChannel.Literal(keys.WakeChannel), count, CommandFlags.FireAndForget);
        }
        catch (RedisServerException ex) when (ex.Message.IndexOf("WRONGTYPE", StringComparison.Ordinal) >= 0)
        {
            throw await DiagnoseWrongTypeAsync(new[] { keys.Tasks, keys.Pending }, ex).ConfigureAwait(false);
        }
        var outcomes = new EnqueueOutcome[count];
        for (var k = 0; k < count; k++) outcomes[k] = new EnqueueOutcome(EnqueueStatus.Stored);
        return outcomes;
    }

    /// <summary>Leases up to <paramref name="max"/> pending tasks to a worker until <paramref name="leaseDeadline"/>.</summary>
    public async Task<IReadOnlyList<LeasedTask>> FetchAsync(string queue, string workerId, int max, DateTimeOffset leaseDeadline)
    {
        var keys = Keys(queue);
        var result = (RedisResult[])(await Eval(Scripts.Fetch,
            new[] { keys.Pending, keys.Active, keys.Tasks, keys.Attempts, keys.Owners, keys.Recoveries },
            new RedisValue[] { workerId, leaseDeadline.ToUnixMs(), max }).ConfigureAwait(false))!;
        if (result.Length == 0) return Array.Empty<LeasedTask>();
        // Pairs of id and envelope, then the triples (position, attempt, recoveries) of tasks past their first attempt.
        var count = (result.Length - 1) / 2;
        var attempts = new int[count];
        var recoveries = new int[count];
        var later = (RedisResult[])result[result.Length - 1]!;
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
        return leased;
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
        var args = new RedisValue[4 + 4 * completions.Count];
        args[0] = workerId;
        args[1] = now.ToUnixMs();
        args[2] = oldest.ToUnixMs();
        args[3] = Options.MaxSuccessRecords;
        for (var i = 0; i < completions.Count; i++)
        {
            var (result, uniqueKey) = completions[i];
            if (result.Queue != keys.Queue) throw new ArgumentException("All completions of one call must belong to one queue.");
            args[4 + 4 * i] = result.Id;
            args[5 + 4 * i] = TqJson.Serialize(result);
            args[6 + 4 * i] = uniqueKey ?? "";
            args[7 + 4 * i] = result.CompletedAt.ToUnixMs();
        }
        var flags = (RedisResult[])(await Eval(Scripts.Complete,
            new[] { keys.Active, keys.Owners, keys.Succeeded, keys.Results, keys.Tasks, keys.Attempts, keys.Unique, keys.Recoveries, keys.Canceled },
            args).ConfigureAwait(false))!;
        return flags.Select(f => (long)f == 1).ToArray();
    }

    /// <summary>Records a failed attempt: a retry at <paramref name="retryAt"/>, or a failure record when it is null.</summary>
    public async Task<bool> FailAsync(string workerId, TaskError error, DateTimeOffset? retryAt, string? uniqueKey = null)
    {
        var keys = Keys(error.Queue);
        error.RetryAt = retryAt;
        var done = await Eval(Scripts.Fail, new[] { keys.Active, keys.Owners, keys.Retry, keys.Failed, keys.Errors, keys.Attempts, keys.Tasks, keys.Unique, keys.Recoveries, keys.Canceled },
            new RedisValue[] { error.Id, workerId, error.FailedAt.ToUnixMs(), TqJson.Serialize(error), retryAt?.ToUnixMs() ?? 0, Options.MaxFailureRecords, uniqueKey ?? "" })
            .ConfigureAwait(false);
        return (long)done == 1;
    }

    /// <summary>
    /// Removes success and failure records older than <see cref="BrokerOptions.SuccessRetention"/> and
    /// <see cref="BrokerOptions.FailureRetention"/>, at most <paramref name="limit"/> of each per call.
    /// </summary>
    public async Task<(long Successes, long Failures)> TrimRecordsAsync(string queue, int limit = 1000)
    {
        var k = Keys(queue);
        var now = Clock.UtcNow;
        var removed = (RedisResult[])(await Eval(Scripts.Trim, new[] { k.Succeeded, k.Results, k.Failed, k.Errors, k.Tasks },
            new RedisValue[] { (now - Options.SuccessRetention).ToUnixMs(), (now - Options.FailureRetention).ToUnixMs(), limit }).ConfigureAwait(false))!;
        return ((long)removed[0], (long)removed[1]);
    }

    /// <summary>Hands leased tasks back to the front of the queue without counting the attempt.</summary>
    public async Task<long> ReleaseAsync(string queue, string workerId, IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0) return 0;
        var keys = Keys(queue);
        var args = new List<RedisValue> { keys.WakeChannel, workerId };
        args.AddRange(ids.Select(id => (RedisValue)id));
        return (long)await Eval(Scripts.Release, new[] { keys.Active, keys.Owners, keys.Pending }, args.ToArray()).ConfigureAwait(false);
    }

    /// <summary>Extends the leases a worker holds; returns the ids it no longer holds and those whose cancellation was asked.</summary>
    public async Task<(string[] Lost, string[] Canceled)> ExtendAsync(string queue, string workerId, IReadOnlyCollection<string> ids, DateTimeOffset leaseDeadline)
    {
        if (ids.Count == 0) return (Array.Empty<string>(), Array.Empty<string>());
        var keys = Keys(queue);
        var args = new List<RedisValue> { workerId, leaseDeadline.ToUnixMs() };
        args.AddRange(ids.Select(id => (RedisValue)id));
        var pairs = (RedisResult[])(await Eval(Scripts.Extend, new[] { keys.Active, keys.Owners, keys.Canceled }, args.ToArray()).ConfigureAwait(false))!;
        var lost = new List<string>();
        var canceled = new List<string>();
        for (var i = 0; i + 1 < pairs.Length; i += 2)
            ((string?)pairs[i + 1] == "canceled" ? canceled : lost).Add((string)pairs[i]!);
        return (lost.ToArray(), canceled.ToArray());
    }

    /// <summary>Moves tasks whose lease ran out back to pending; returns them with the worker that held each.</summary>
    public async Task<(string Id, string Worker)[]> RecoverAsync(string queue, int limit = 100)
    {
        var keys = Keys(queue);
        var pairs = (RedisResult[])(await Eval(Scripts.Recover, new[] { keys.Active, keys.Owners, keys.Pending, keys.Recoveries },
            new RedisValue[] { keys.WakeChannel, Clock.UtcNow.ToUnixMs(), limit }).ConfigureAwait(false))!;
        var moved = new (string, string)[pairs.Length / 2];
        for (var i = 0; i < moved.Length; i++) moved[i] = ((string)pairs[2 * i]!, (string?)pairs[2 * i + 1] ?? "");
        return moved;
    }

    /// <summary>Moves due retries and scheduled tasks to pending; returns how many moved and when the next one is due.</summary>
    public async Task<(long Moved, DateTimeOffset? NextDue)> PromoteAsync(string queue, int limit = 500)
    {
        var keys = Keys(queue);
        var result = (RedisResult[])(await Eval(Scripts.Promote, new[] { keys.Retry, keys.Pending, keys.Scheduled },
            new RedisValue[] { keys.WakeChannel, Clock.UtcNow.ToUnixMs(), limit }).ConfigureAwait(false))!;
        var nextDue = (long)result[1];
        return ((long)result[0], nextDue < 0 ? null : ClockExtensions.FromUnixMs(nextDue));
    }

    /// <summary>Puts a failed task back in the queue with a fresh attempt count.</summary>
    public async Task<RequeueOutcome> RequeueAsync(string queue, string id)
    {
        var keys = Keys(queue);
        var result = (long)await Eval(Scripts.Requeue, new[] { keys.Failed, keys.Errors, keys.Attempts, keys.Tasks, keys.Pending, keys.Recoveries, keys.Canceled },
            new RedisValue[] { keys.WakeChannel, id }).ConfigureAwait(false);
        return result switch
        {
            1 => RequeueOutcome.Requeued,
            -1 => RequeueOutcome.TaskMissing,
            _ => RequeueOutcome.NotFailed,
        };
    }

    /// <summary>Puts every failure record of a queue back in its pending list, oldest first; returns how many went back.</summary>
    /// <remarks>
    /// Failures whose reason is in <paramref name="skipReasons"/> stay (the dashboard leaves Canceled and BadSignature
    /// alone unless asked), and so do those whose envelope <paramref name="signatures"/> refuses.
    /// </remarks>
    public async Task<long> RequeueAllAsync(string queue, int limit = 100_000, IReadOnlyCollection<string>? skipReasons = null, SignaturePolicy? signatures = null)
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
            var outcomes = await Task.WhenAll(chosen.Select(id => RequeueAsync(queue, id))).ConfigureAwait(false);
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
        var k = Keys(queue);
        var envelope = (string?)await Db.HashGetAsync(k.Tasks, id).ConfigureAwait(false);
        string? uniqueKey = null;
        if (!string.IsNullOrEmpty(envelope))
        {
            try { uniqueKey = TqJson.ReadEnvelope(envelope!).UniqueKey; }
            catch (MalformedTaskException) { }
        }
        var result = (long)await Eval(Scripts.Delete,
            new[] { k.Pending, k.Scheduled, k.Retry, k.Active, k.Failed, k.Succeeded, k.Tasks, k.Attempts, k.Errors, k.Results, k.Recoveries, k.Unique },
            new RedisValue[] { id, uniqueKey ?? "" }).ConfigureAwait(false);
        return result switch
        {
            1 => DeleteOutcome.Deleted,
            -1 => DeleteOutcome.Running,
            _ => DeleteOutcome.NotFound,
        };
    }

    /// <summary>Cancels a task: pending or retrying ones become failure records; active ones are stopped by their worker.</summary>
    public async Task<CancelOutcome> CancelAsync(string queue, string id, string reason)
    {
        var k = Keys(queue);
        var now = Clock.UtcNow;
        var error = new TaskError { Id = id, Queue = queue, Reason = FailureReasons.Canceled, Permanent = true, Message = reason, FailedAt = now };
        var result = (long)await Eval(Scripts.Cancel,
            new[] { k.Pending, k.Retry, k.Active, k.Failed, k.Errors, k.Canceled, k.Tasks, k.Attempts, k.Scheduled },
            new RedisValue[] { k.CancelChannel, id, now.ToUnixMs(), TqJson.Serialize(error) }).ConfigureAwait(false);
        return result switch
        {
            1 => CancelOutcome.Canceled,
            2 => CancelOutcome.StopRequested,
            _ => CancelOutcome.NotCancelable,
        };
    }

    /// <summary>
    /// For each id: Succeeded or Failed once the task finished, Unknown when Redis has no such task
    /// (never sent, or its record expired), Pending for any state in between. Pipelined: three reads per id.
    /// </summary>
    public async Task<TaskState[]> GetOutcomesAsync(string queue, IReadOnlyList<string> ids)
    {
        var k = Keys(queue);
        var db = Db;
        var succeeded = ids.Select(id => db.SortedSetScoreAsync(k.Succeeded, id)).ToArray();
        var failed = ids.Select(id => db.SortedSetScoreAsync(k.Failed, id)).ToArray();
        var exists = ids.Select(id => db.HashExistsAsync(k.Tasks, id)).ToArray();
        await Task.WhenAll(succeeded.Cast<Task>().Concat(failed).Concat(exists)).ConfigureAwait(false);
        var states = new TaskState[ids.Count];
        for (var i = 0; i < ids.Count; i++)
        {
            states[i] = succeeded[i].Result is not null ? TaskState.Succeeded
                : failed[i].Result is not null ? TaskState.Failed
                : exists[i].Result ? TaskState.Pending
                : TaskState.Unknown;
        }
        return states;
    }

    public async Task<TaskSnapshot> InspectAsync(string queue, string id)
    {
        var k = Keys(queue);
        var r = (RedisResult[])(await Eval(Scripts.Inspect, new[] { k.Tasks, k.Attempts, k.Owners, k.Active, k.Retry, k.Succeeded, k.Failed, k.Results, k.Errors, k.Scheduled, k.Recoveries },
            new RedisValue[] { id }).ConfigureAwait(false))!;
        var state = (string)r[0]! switch
        {
            "succeeded" => TaskState.Succeeded,
            "failed" => TaskState.Failed,
            "active" => TaskState.Active,
            "retrying" => TaskState.Retrying,
            "pending" => TaskState.Pending,
            "scheduled" => TaskState.Scheduled,
            _ => TaskState.Unknown,
        };
        var snapshot = new TaskSnapshot { Id = id, Queue = queue, State = state };
        var envelope = (string?)r[1];
        if (!string.IsNullOrEmpty(envelope))
        {
            try { snapshot.Envelope = TqJson.ReadEnvelope(envelope); }
            catch (MalformedTaskException) { }
        }
        if (int.TryParse((string?)r[2], out var attempts)) snapshot.Attempts = attempts;
        var owner = (string?)r[3];
        if (!string.IsNullOrEmpty(owner)) snapshot.Worker = owner;
        if (double.TryParse((string?)r[4], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var score))
            snapshot.StateSince = ClockExtensions.FromUnixMs((long)score);
        var record = (string?)r[5];
        if (state == TaskState.Succeeded) snapshot.Result = TqJson.ReadResult(record);
        else if (!string.IsNullOrEmpty(record)) snapshot.Error = TqJson.ReadError(record);
        if (snapshot.Result is { } result)
        {
            snapshot.Attempts = result.Attempts;
            snapshot.Worker = result.Worker;
        }
        else if (snapshot.Error is { } error && state == TaskState.Failed)
        {
            snapshot.Attempts = error.Attempts;
            snapshot.Worker = error.Worker;
        }
        return snapshot;
    }

    public async Task<QueueCounts> CountAsync(string queue)
    {
        var k = Keys(queue);
        var db = Db;
        var pending = db.ListLengthAsync(k.Pending);
        var active = db.SortedSetLengthAsync(k.Active);
        var retrying = db.SortedSetLengthAsync(k.Retry);
        var succeeded = db.SortedSetLengthAsync(k.Succeeded);
        var failed = db.SortedSetLengthAsync(k.Failed);
        var scheduled = db.SortedSetLengthAsync(k.Scheduled);
        try
        {
            await Task.WhenAll(pending, active, retrying, succeeded, failed, scheduled).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.IndexOf("WRONGTYPE", StringComparison.Ordinal) >= 0)
        {
            throw await DiagnoseWrongTypeAsync(new[] { k.Pending, k.Active, k.Retry, k.Succeeded, k.Failed, k.Scheduled }, ex).ConfigureAwait(false);
        }
        return new QueueCounts
        {
            Name = queue,
            Pending = await pending.ConfigureAwait(false),
            Scheduled = await scheduled.ConfigureAwait(false),
            Active = await active.ConfigureAwait(false),
            Retrying = await retrying.ConfigureAwait(false),
            Succeeded = await succeeded.ConfigureAwait(false),
            Failed = await failed.ConfigureAwait(false),
        };
    }

    /// <summary>Publishes a live worker's description; it expires unless refreshed within three lease times.</summary>
    public async Task HeartbeatWorkerAsync(Worker.WorkerInfo info, TimeSpan leaseTime)
    {
        var db = Db;
        var key = QueueKeys.Worker(info.Id);
        var now = Clock.UtcNow.ToUnixMs();
        var batch = db.CreateBatch();
        var set = batch.HashSetAsync(key, new[]
        {
            new HashEntry("host", info.Host),
            new HashEntry("pid", info.ProcessId),
            new HashEntry("queues", string.Join(",", info.Queues)),
            new HashEntry("concurrency", info.Concurrency),
            new HashEntry("started", info.StartedAt.ToUnixMs()),
            new HashEntry("running", info.Running),
            new HashEntry("processed", info.Processed),
            new HashEntry("heartbeat", now),
        });
        var expire = batch.KeyExpireAsync(key, TimeSpan.FromTicks(leaseTime.Ticks * 3));
        var seen = batch.SortedSetAddAsync(QueueKeys.Workers, info.Id, now);
        // Ids of workers that died without unregistering: their descriptions expired long ago.
        var forgetBefore = now - (long)Math.Max(TimeSpan.FromHours(1).TotalMilliseconds, leaseTime.TotalMilliseconds * 3);
        var pruned = batch.SortedSetRemoveRangeByScoreAsync(QueueKeys.Workers, double.NegativeInfinity, forgetBefore);
        batch.Execute();
        await Task.WhenAll(set, expire, seen, pruned).ConfigureAwait(false);
    }

    public async Task UnregisterWorkerAsync(string workerId)
    {
        var db = Db;
        await Task.WhenAll(db.KeyDeleteAsync(QueueKeys.Worker(workerId)), db.SortedSetRemoveAsync(QueueKeys.Workers, workerId)).ConfigureAwait(false);
    }

    /// <summary>The bytes a task is stored as: its JSON, behind a signature line when this broker signs.</summary>
    private byte[] Stored(TaskEnvelope task)
    {
        if (Options.Signing is not { } keyring) return TqJson.SerializeToUtf8(task);
        task.Kid = keyring.SigningKeyId;
        return EnvelopeSignature.Sign(TqJson.SerializeToUtf8(task), keyring);
    }

    /// <summary>Stores a recurring schedule and its next due time (none while disabled), atomically; signed when this broker signs.</summary>
    public async Task SaveScheduleAsync(ScheduleDefinition schedule, DateTimeOffset? nextDue)
    {
        var k = Keys(schedule.Queue);
        byte[] stored;
        if (Options.Signing is { } keyring)
        {
            schedule.Kid = keyring.SigningKeyId;
            stored = EnvelopeSignature.Sign(TqJson.SerializeToUtf8(schedule), keyring);
        }
        else
        {
            schedule.Kid = null;
            stored = TqJson.SerializeToUtf8(schedule);
        }
        var transaction = Db.CreateTransaction();
        var saved = transaction.HashSetAsync(k.Schedules, schedule.Name, stored);
        var due = schedule.Enabled && nextDue is { } next
            ? transaction.SortedSetAddAsync(k.ScheduleDue, schedule.Name, next.ToUnixMs())
            : transaction.SortedSetRemoveAsync(k.ScheduleDue, schedule.Name);
        var registered = transaction.SetAddAsync(QueueKeys.Queues, schedule.Queue);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        await Task.WhenAll(saved, due, registered).ConfigureAwait(false);
    }

    /// <summary>Removes a schedule; false when there was none of that name.</summary>
    public async Task<bool> RemoveScheduleAsync(string queue, string name)
    {
        var k = Keys(queue);
        var transaction = Db.CreateTransaction();
        var removed = transaction.HashDeleteAsync(k.Schedules, name);
        var due = transaction.SortedSetRemoveAsync(k.ScheduleDue, name);
        var runs = transaction.HashDeleteAsync(k.ScheduleRuns, name);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        await Task.WhenAll(due, runs).ConfigureAwait(false);
        return await removed.ConfigureAwait(false);
    }

    public async Task<ScheduleDefinition?> GetScheduleAsync(string queue, string name) =>
        TqJson.ReadSchedule(await Db.HashGetAsync(Keys(queue).Schedules, name).ConfigureAwait(false));

    /// <summary>A schedule as stored (with its signature line, if any), for a firer that checks it; null when there is none.</summary>
    public async Task<byte[]?> GetStoredScheduleAsync(string queue, string name) =>
        (byte[]?)await Db.HashGetAsync(Keys(queue).Schedules, name).ConfigureAwait(false);

    /// <summary>The schedules of a queue with their next due time and last run.</summary>
    public async Task<IReadOnlyList<(ScheduleDefinition Schedule, DateTimeOffset? NextDue, ScheduleRun? LastRun)>> GetSchedulesAsync(string queue)
    {
        var k = Keys(queue);
        var db = Db;
        var definitions = db.HashGetAllAsync(k.Schedules);
        var due = db.SortedSetRangeByRankWithScoresAsync(k.ScheduleDue);
        var runs = db.HashGetAllAsync(k.ScheduleRuns);
        var dueByName = (await due.ConfigureAwait(false)).ToDictionary(e => (string)e.Element!, e => (long)e.Score);
        var runByName = (await runs.ConfigureAwait(false)).ToDictionary(e => (string)e.Name!, e => (string?)e.Value);
        var list = new List<(ScheduleDefinition, DateTimeOffset?, ScheduleRun?)>();
        foreach (var entry in await definitions.ConfigureAwait(false))
        {
            var schedule = TqJson.ReadSchedule(entry.Value);
            if (schedule is null) continue;
            DateTimeOffset? next = dueByName.TryGetValue(schedule.Name, out var ms) ? ClockExtensions.FromUnixMs(ms) : null;
            runByName.TryGetValue(schedule.Name, out var run);
            list.Add((schedule, next, TqJson.ReadScheduleRun(run)));
        }
        return list.OrderBy(s => s.Item1.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>Schedules whose next occurrence is due, with the due time each was seen with.</summary>
    public async Task<(string Name, long DueMs)[]> DueSchedulesAsync(string queue, int limit = 20)
    {
        var entries = await Db.SortedSetRangeByScoreWithScoresAsync(Keys(queue).ScheduleDue, double.NegativeInfinity, Clock.UtcNow.ToUnixMs(), take: limit).ConfigureAwait(false);
        return entries.Select(e => ((string)e.Element!, (long)e.Score)).ToArray();
    }

    /// <summary>
    /// Fires one occurrence, if no other worker did: moves the due time on and enqueues the task (null: skip it),
    /// signed when this broker signs and <paramref name="sign"/> says the schedule itself was signed.
    /// </summary>
    public async Task<bool> FireAsync(string queue, string name, long dueMs, DateTimeOffset? next, ScheduleRun run, TaskEnvelope? task, bool sign = true)
    {
        var k = Keys(queue);
        RedisValue stored = task is null ? "" : sign ? Stored(task) : TqJson.SerializeToUtf8(task);
        var result = await Eval(Scripts.Fire, new[] { k.ScheduleDue, k.ScheduleRuns, k.Tasks, k.Pending },
            new RedisValue[] { k.WakeChannel, name, dueMs, next?.ToUnixMs() ?? -1, TqJson.Serialize(run), task?.Id ?? "", stored })
            .ConfigureAwait(false);
        return (long)result == 1;
    }

    /// <summary>How long per-minute throughput counters are kept.</summary>
    public static readonly TimeSpan ThroughputRetention = TimeSpan.FromHours(48);

    /// <summary>Counts finished tasks of the current minute (the dashboard's history); fire and forget.</summary>
    public void CountFinished(string queue, long succeeded, long failed)
    {
        var now = Clock.UtcNow;
        var key = Keys(queue).Throughput(now);
        var minute = (now.ToUnixTimeSeconds() / 60 % 60).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var db = Db;
        if (succeeded > 0) db.HashIncrement(key, minute + "s", succeeded, CommandFlags.FireAndForget);
        if (failed > 0) db.HashIncrement(key, minute + "f", failed, CommandFlags.FireAndForget);
        db.KeyExpire(key, ThroughputRetention, CommandFlags.FireAndForget);
        var totals = Keys(queue).Totals;
        if (succeeded > 0) db.HashIncrement(totals, "succeeded", succeeded, CommandFlags.FireAndForget);
        if (failed > 0) db.HashIncrement(totals, "failed", failed, CommandFlags.FireAndForget);
    }

    /// <summary>Tasks that ever succeeded and failed for good in a queue, as counted by its workers.</summary>
    public async Task<(long Succeeded, long Failed, long BadSignature)> GetTotalsAsync(string queue)
    {
        var values = await Db.HashGetAsync(Keys(queue).Totals, new RedisValue[] { "succeeded", "failed", "badSignature" }).ConfigureAwait(false);
        return ((long?)values[0] ?? 0, (long?)values[1] ?? 0, (long?)values[2] ?? 0);
    }

    /// <summary>Counts a task or schedule refused for its signature (the /metrics counter); fire and forget.</summary>
    public void CountBadSignature(string queue) =>
        Db.HashIncrement(Keys(queue).Totals, "badSignature", 1, CommandFlags.FireAndForget);

    /// <summary>Tasks succeeded and failed per minute over the last <paramref name="minutes"/> minutes, oldest first.</summary>
    public async Task<IReadOnlyList<(DateTimeOffset Minute, long Succeeded, long Failed)>> GetThroughputAsync(string queue, int minutes)
    {
        var k = Keys(queue);
        var now = Clock.UtcNow;
        var firstMinute = now.ToUnixTimeSeconds() / 60 - minutes + 1;
        var hours = new Dictionary<long, Task<HashEntry[]>>();
        for (var m = firstMinute; m <= now.ToUnixTimeSeconds() / 60; m++)
        {
            var hour = m / 60;
            if (!hours.ContainsKey(hour)) hours[hour] = Db.HashGetAllAsync(k.Throughput(DateTimeOffset.FromUnixTimeSeconds(hour * 3600)));
        }
        await Task.WhenAll(hours.Values).ConfigureAwait(false);
        var series = new List<(DateTimeOffset, long, long)>(minutes);
        for (var m = firstMinute; m <= now.ToUnixTimeSeconds() / 60; m++)
        {
            var fields = hours[m / 60].Result;
            var name = (m % 60).ToString(System.Globalization.CultureInfo.InvariantCulture);
            long Count(string suffix) => (long)(fields.FirstOrDefault(f => f.Name == name + suffix).Value is { HasValue: true } v ? v : 0);
            series.Add((DateTimeOffset.FromUnixTimeSeconds(m * 60), Count("s"), Count("f")));
        }
        return series;
    }

    /// <summary>The live workers, as they last described themselves (<see cref="HeartbeatWorkerAsync"/>).</summary>
    public async Task<IReadOnlyList<Worker.WorkerInfo>> GetWorkersAsync()
    {
        var workers = new List<Worker.WorkerInfo>();
        foreach (var fields in await ListWorkersAsync().ConfigureAwait(false))
        {
            string Field(string name) => fields.TryGetValue(name, out var value) ? value : "";
            long Number(string name) => long.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
            workers.Add(new Worker.WorkerInfo
            {
                Id = Field("id"),
                Host = Field("host"),
                ProcessId = (int)Number("pid"),
                Queues = Field("queues").Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries),
                Concurrency = (int)Number("concurrency"),
                StartedAt = ClockExtensions.FromUnixMs(Number("started")),
                Running = (int)Number("running"),
                Processed = Number("processed"),
                LastSeen = ClockExtensions.FromUnixMs(Number("heartbeat")),
            });
        }
        return workers;
    }

    /// <summary>Live workers (those whose description has not expired), with what they publish about themselves.</summary>
    public async Task<IReadOnlyList<Dictionary<string, string>>> ListWorkersAsync()
    {
        var db = Db;
        var ids = await db.SortedSetRangeByRankAsync(QueueKeys.Workers).ConfigureAwait(false);
        var hashes = await Task.WhenAll(ids.Select(id => db.HashGetAllAsync(QueueKeys.Worker(id!)))).ConfigureAwait(false);
        var workers = new List<Dictionary<string, string>>();
        for (var i = 0; i < ids.Length; i++)
        {
            if (hashes[i].Length == 0) continue;
            var worker = hashes[i].ToDictionary(e => (string)e.Name!, e => (string?)e.Value ?? "");
            worker["id"] = ids[i]!;
            workers.Add(worker);
        }
        return workers;
    }

    /// <summary>Names of the queues that ever received a task, sorted.</summary>
    public async Task<string[]> ListQueuesAsync()
    {
        var members = await Db.SetMembersAsync(QueueKeys.Queues).ConfigureAwait(false);
        return members.Select(m => (string)m!).Where(QueueName.IsValid).OrderBy(n => n, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Success records, newest first, or those with the given ids. A record that is not valid JSON reads as <see cref="Unreadable(string, string)"/>.</summary>
    public async Task<IReadOnlyList<TaskResult>> GetResultsAsync(string queue, int first, IReadOnlyList<string>? ids = null, int skip = 0)
    {
        var k = Keys(queue);
        var db = Db;
        var wanted = ids?.Select(i => (RedisValue)i).ToArray()
            ?? await db.SortedSetRangeByRankAsync(k.Succeeded, skip, skip + first - 1, Order.Descending).ConfigureAwait(false);
        if (wanted.Length == 0) return Array.Empty<TaskResult>();
        var json = await db.HashGetAsync(k.Results, wanted).ConfigureAwait(false);
        var results = new List<TaskResult>(wanted.Length);
        for (var i = 0; i < wanted.Length; i++)
        {
            if (!json[i].HasValue) continue;
            try { results.Add(TqJson.ReadResult(json[i])!); }
            catch (JsonException) { results.Add(Unreadable(queue, wanted[i]!)); }
        }
        return results;
    }

    /// <summary>What a success record that is not valid JSON reads as: its id and queue, and a label that says so.</summary>
    public static TaskResult Unreadable(string queue, string id) =>
        new() { Id = id, Queue = queue, Label = "(unreadable record: not valid JSON)" };

    /// <summary>
    /// Failure records with their tasks, newest first, or those with the given ids. A record that is not valid JSON
    /// reads as one with reason <see cref="FailureReasons.UnreadableRecord"/>. With <paramref name="maxTaskBytes"/>,
    /// envelopes larger than that are not read (the entry's Task is null and TaskBytes says how large it is): a page
    /// of failures then costs Redis and the network at most that much per record.
    /// </summary>
    public async Task<IReadOnlyList<FailureEntry>> GetFailuresAsync(string queue, int first, IReadOnlyList<string>? ids = null, int skip = 0, int? maxTaskBytes = null)
    {
        var k = Keys(queue);
        var db = Db;
        RedisValue[] wanted;
        if (ids is null)
        {
            wanted = await db.SortedSetRangeByRankAsync(k.Failed, skip, skip + first - 1, Order.Descending).ConfigureAwait(false);
        }
        else
        {
            // Only ids that are failure records, not retrying tasks whose last error is also kept.
            var scores = await Task.WhenAll(ids.Select(id => db.SortedSetScoreAsync(k.Failed, id))).ConfigureAwait(false);
            wanted = ids.Where((_, i) => scores[i].HasValue).Select(i => (RedisValue)i).ToArray();
        }
        if (wanted.Length == 0) return Array.Empty<FailureEntry>();
        var errors = db.HashGetAsync(k.Errors, wanted);
        RedisValue[] taskJson;
        long[]? sizes = null;
        if (maxTaskBytes is { } limit)
        {
            var peeked = (RedisResult[])(await Eval(Scripts.Peek, new[] { k.Tasks }, wanted.Prepend(limit).ToArray()).ConfigureAwait(false))!;
            taskJson = peeked.Select(r => r.Resp2Type == ResultType.BulkString ? (RedisValue)r : RedisValue.Null).ToArray();
            sizes = peeked.Select((r, i) => taskJson[i].HasValue ? ((byte[])taskJson[i]!).Length : (long)r).ToArray();
        }
        else
            taskJson = await db.HashGetAsync(k.Tasks, wanted).ConfigureAwait(false);
        var errorJson = await errors.ConfigureAwait(false);
        var entries = new List<FailureEntry>(wanted.Length);
        for (var i = 0; i < wanted.Length; i++)
        {
            if (!errorJson[i].HasValue) continue;
            TaskEnvelope? envelope = null;
            try { envelope = TqJson.ReadEnvelope(taskJson[i]); }
            catch (MalformedTaskException) { }
            TaskError error;
            try { error = TqJson.ReadError(errorJson[i])!; }
            catch (JsonException)
            {
                error = new TaskError
                {
                    Id = wanted[i]!, Queue = queue, Reason = FailureReasons.UnreadableRecord, Permanent = true,
                    Message = "This failure record is not valid JSON. Remove-TqTask deletes it.",
                };
            }
            entries.Add(new FailureEntry(error, envelope, taskJson[i], sizes?[i] ?? ((byte[]?)taskJson[i])?.Length ?? 0));
        }
        return entries;
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

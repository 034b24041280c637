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
public sealed class RedisBroker
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
        Shards = new ShardRouter(this);
        Limits = new QueueLimits(this);
        Replication = new Replication(this);
        Enqueuer = new TaskEnqueuer(this);
        Workflows = new Workflows(this);
        Logs = new TaskLogs(this);
    }

    public IConnectionMultiplexer Connection { get; }
    public BrokerOptions Options { get; }
    public IClock Clock { get; }

    /// <summary>Tasks, queues and records as they are: every read that changes nothing.</summary>
    public TaskReads Reads { get; }
    /// <summary>Recurring schedules: stored, listed, fired.</summary>
    public ScheduleStore Schedules { get; }
    /// <summary>Tasks' stream logs: what they wrote to each PowerShell stream, in order, while they ran.</summary>
    public TaskLogs Logs { get; }
    /// <summary>Live workers: their heartbeats and descriptions.</summary>
    public WorkerRegistry Workers { get; }
    /// <summary>Finished-task counters per minute and in total.</summary>
    public QueueStatistics Statistics { get; }
    /// <summary>Sharded queues: how many shards a queue has, and which shard holds a task.</summary>
    public ShardRouter Shards { get; }
    /// <summary>Flow control: suspended queues, concurrency and rate limits.</summary>
    public QueueLimits Limits { get; }

    /// <summary>New tasks: stored in their queue or shard, checked by the enqueue script or with plain commands.</summary>
    public TaskEnqueuer Enqueuer { get; }
    /// <summary>Tasks that wait for others: stored, and the outcomes of their dependencies handed over.</summary>
    public Workflows Workflows { get; }

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

    /// <summary>Stores tasks of one queue (<see cref="Enqueuer"/>): what happened to each, in order.</summary>
    public Task<EnqueueOutcome[]> EnqueueAsync(string queue, IReadOnlyList<TaskEnvelope> tasks) => Enqueuer.EnqueueAsync(queue, tasks);

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
        return Transitions.Fetch.Read(queue, await RunAsync(Transitions.Fetch.Script, keys, Transitions.Fetch.Args(workerId, leaseDeadline, max, Clock.UtcNow)).ConfigureAwait(false));
    }

    /// <summary>Writes the success record. False when the worker lost the lease (nothing was written).</summary>
    public async Task<bool> CompleteAsync(string workerId, TaskResult result, string? uniqueKey = null) =>
        (await CompleteAsync(workerId, new[] { (result, uniqueKey) }).ConfigureAwait(false))[0];

    /// <summary>
    /// Writes the success records of tasks of one queue in one script call. Per task: false when the worker
    /// lost the lease (nothing was written for it).
    /// </summary>
    public Task<bool[]> CompleteAsync(string workerId, IReadOnlyList<(TaskResult Result, string? UniqueKey)> completions) =>
        completions.Count == 0 ? Task.FromResult(Array.Empty<bool>()) : CompleteAsync(completions[0].Result.Queue, workerId, completions);

    /// <summary>
    /// The same in <paramref name="queue"/>, the queue or shard the tasks were leased from: records name the queue
    /// itself, never its shard (ShardRouter).
    /// </summary>
    public async Task<bool[]> CompleteAsync(string queue, string workerId, IReadOnlyList<(TaskResult Result, string? UniqueKey)> completions)
    {
        if (completions.Count == 0) return Array.Empty<bool>();
        var keys = Keys(queue);
        var now = Clock.UtcNow;
        var oldest = now - Options.SuccessRetention;
        var records = new (string, RedisValue, string?, DateTimeOffset)[completions.Count];
        for (var i = 0; i < completions.Count; i++)
        {
            var (result, uniqueKey) = completions[i];
            if (ShardRouter.Logical(result.Queue) != ShardRouter.Logical(keys.Queue)) throw new ArgumentException("All completions of one call must belong to one queue.");
            records[i] = (result.Id, RecordProof.Store(result, Options.Signing), uniqueKey, result.CompletedAt);
        }
        var codes = Transitions.Complete.Read(await RunAsync(Transitions.Complete.Script, keys,
            Transitions.Complete.Args(keys, workerId, oldest, Options.MaxSuccessRecords, records)).ConfigureAwait(false));
        // Tasks wait for some of these: hand their outcomes over now (settle.lua); what a crash leaves in the
        // hand-over list, the next look at the queue hands over.
        if (codes.Contains(2)) await Workflows.HandOverAsync(keys.Queue).ConfigureAwait(false);
        return codes.Select(c => c > 0).ToArray();
    }

    /// <summary>Records a failed attempt: a retry at <paramref name="retryAt"/>, or a failure record when it is null.</summary>
    public Task<bool> FailAsync(string workerId, TaskError error, DateTimeOffset? retryAt, string? uniqueKey = null) =>
        FailAsync(error.Queue, workerId, error, retryAt, uniqueKey);

    /// <summary>The same in <paramref name="queue"/>, the queue or shard the task was leased from (the record names the queue itself).</summary>
    public async Task<bool> FailAsync(string queue, string workerId, TaskError error, DateTimeOffset? retryAt, string? uniqueKey = null)
    {
        if (ShardRouter.Logical(error.Queue) != ShardRouter.Logical(queue)) throw new ArgumentException($"Task {error.Id} belongs to queue '{error.Queue}', not '{queue}'.");
        var keys = Keys(queue);
        error.RetryAt = retryAt;
        var code = Transitions.Fail.Read(await RunAsync(Transitions.Fail.Script, keys,
            Transitions.Fail.Args(keys, error.Id, workerId, error.FailedAt, RecordProof.Store(error, Options.Signing), retryAt, Options.MaxFailureRecords, uniqueKey))
            .ConfigureAwait(false));
        if (code == 2) await Workflows.HandOverAsync(keys.Queue).ConfigureAwait(false);
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
        return Transitions.Trim.Read(await RunAsync(Transitions.Trim.Script, k,
            Transitions.Trim.Args(now - Options.SuccessRetention, now - Options.FailureRetention, limit)).ConfigureAwait(false));
    }

    /// <summary>Hands leased tasks back to the front of the queue without counting the attempt; returns how many went back.</summary>
    public async Task<long> HandBackAsync(string queue, string workerId, IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0) return 0;
        var keys = Keys(queue);
        return Transitions.HandBack.Read(await RunAsync(Transitions.HandBack.Script, keys, Transitions.HandBack.Args(keys, workerId, ids)).ConfigureAwait(false));
    }

    /// <summary>
    /// Gives leased tasks back for later (defer.lua): they become scheduled, due at <paramref name="due"/>, the attempt
    /// not counted. For tasks this worker cannot run (an envelope version it does not read), so a newer worker takes them.
    /// </summary>
    public async Task<long> DeferAsync(string queue, string workerId, IReadOnlyCollection<string> ids, DateTimeOffset due)
    {
        if (ids.Count == 0) return 0;
        var keys = Keys(queue);
        return Transitions.Defer.Read(await RunAsync(Transitions.Defer.Script, keys, Transitions.Defer.Args(keys, workerId, due, ids)).ConfigureAwait(false));
    }

    /// <summary>Extends the leases a worker holds; returns the ids it no longer holds and those whose cancellation was asked.</summary>
    public async Task<(string[] Lost, string[] Canceled)> ExtendAsync(string queue, string workerId, IReadOnlyCollection<string> ids, DateTimeOffset leaseDeadline)
    {
        if (ids.Count == 0) return (Array.Empty<string>(), Array.Empty<string>());
        return Transitions.Extend.Read(await RunAsync(Transitions.Extend.Script, Keys(queue), Transitions.Extend.Args(workerId, leaseDeadline, ids)).ConfigureAwait(false));
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
        return Transitions.Recover.Read(await RunAsync(Transitions.Recover.Script, keys, Transitions.Recover.Args(keys, Clock.UtcNow, limit)).ConfigureAwait(false));
    }

    /// <summary>Moves due retries and scheduled tasks to pending; returns how many moved and when the next one is due.</summary>
    public async Task<(long Moved, DateTimeOffset? NextDue)> PromoteAsync(string queue, int limit = 500)
    {
        var keys = Keys(queue);
        return Transitions.Promote.Read(await RunAsync(Transitions.Promote.Script, keys, Transitions.Promote.Args(keys, Clock.UtcNow, limit)).ConfigureAwait(false));
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
        var (outcome, handOver) = Transitions.Requeue.Read(await RunAsync(Transitions.Requeue.Script, keys, Transitions.Requeue.Args(keys, id, restamped)).ConfigureAwait(false));
        // Tasks that this one's failure canceled come back to wait for it (settle.lua 'r').
        if (handOver) await Workflows.HandOverAsync(keys.Queue).ConfigureAwait(false);
        return outcome;
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

    /// <summary>
    /// Deletes a queue: every key of it and of its shards (all carry the queue's hash tag, so they live on one server
    /// each, found with SCAN), and its name in the list of queues (Get-TqQueue, the dashboard, /metrics). Returns how
    /// many keys went. The caller decides whether a queue that holds tasks may go (Remove-TqQueue -Force).
    /// </summary>
    public async Task<long> RemoveQueueAsync(string queue)
    {
        var removed = 0L;
        var shards = await Shards.OfAsync(queue).ConfigureAwait(false);
        foreach (var name in shards.Append(queue).Distinct())
        {
            var keys = Keys(name);
            var server = Connection.GetServer(keys.Pending);
            var pattern = QueueKeys.Prefix + "{" + QueueKeys.EscapePattern(name) + "}:*";
            // SCAN by hand (IServer.KeysAsync's async enumerable differs between the engine's target frameworks).
            var cursor = "0";
            do
            {
                var page = (RedisResult[])(await server.ExecuteAsync(Db.Database, "SCAN", new object[] { cursor, "MATCH", pattern, "COUNT", 500 }).ConfigureAwait(false))!;
                cursor = (string)page[0]!;
                var found = ((RedisResult[])page[1]!).Select(k => (RedisKey)(string)k!).ToArray();
                if (found.Length > 0) removed += await Db.KeyDeleteAsync(found).ConfigureAwait(false);
            }
            while (cursor != "0");
        }
        await Db.SetRemoveAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
        return removed;
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
        var outcome = Transitions.Delete.Read(await RunAsync(Transitions.Delete.Script, k, Transitions.Delete.Args(id, uniqueKey)).ConfigureAwait(false));
        if (outcome == DeleteOutcome.Deleted) await Logs.DeleteAsync(k.Queue, id).ConfigureAwait(false);
        return outcome;
    }

    /// <summary>Cancels a task: pending or retrying ones become failure records; active ones are stopped by their worker.</summary>
    public async Task<CancelOutcome> CancelAsync(string queue, string id, string reason)
    {
        var k = Keys(await Shards.LocateAsync(queue, id).ConfigureAwait(false));
        var now = Clock.UtcNow;
        var error = new TaskError { Id = id, Queue = ShardRouter.Logical(queue), Reason = FailureReasons.Canceled, Permanent = true, Message = reason, FailedAt = now };
        // A retrying task keeps what its attempts left: how many ran, and the last one's error.
        var last = Db.HashGetAsync(k.Errors, id);
        var body = Db.HashGetAsync(k.Tasks, id);
        try
        {
            if (TqJson.ReadError(await last.ConfigureAwait(false)) is { } previous)
            {
                error.Attempts = previous.Attempts;
                error.Worker = previous.Worker;
                error.StartedAt = previous.StartedAt;
                error.Message = $"{reason} Its last attempt ({previous.Attempts}) failed: {previous.Message}";
                error.ErrorId = previous.ErrorId;
                error.Category = previous.Category;
                error.ExceptionType = previous.ExceptionType;
                error.ScriptStackTrace = previous.ScriptStackTrace;
                error.Position = previous.Position;
                error.Output = previous.Output;
                error.Warnings = previous.Warnings;
                error.Information = previous.Information;
                error.Errors = previous.Errors;
            }
            var envelope = TqJson.ReadEnvelope((string?)await body.ConfigureAwait(false));
            error.Args = RecordArguments.Of(envelope.Args, out _);
            error.Params = RecordArguments.Of(envelope.Params, out _);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or MalformedTaskException) { }
        return Transitions.Cancel.Read(await RunAsync(Transitions.Cancel.Script, k, Transitions.Cancel.Args(k, id, now, TqJson.Serialize(error))).ConfigureAwait(false));
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

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>
/// New tasks of a queue: stored in its shard, in batches, through the enqueue script (enqueue.lua: ids checked,
/// unique keys claimed, delays and priorities filed) or, for a batch of new ids due now, with plain commands.
/// </summary>
public sealed class TaskEnqueuer : BrokerStore
{
    internal TaskEnqueuer(RedisBroker broker) : base(broker) { }

    /// <summary>
    /// Stores tasks of one queue, pipelined in batches of <see cref="BrokerBroker.Options.EnqueueBatchSize"/>, each batch one
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
        var logical = ShardRouter.Logical(queue);
        foreach (var task in tasks)
        {
            if (task.Queue != logical) throw new ArgumentException($"Task {task.Id} belongs to queue '{task.Queue}', not '{logical}'.");
        }
        if (!ShardRouter.IsShard(queue) && await Broker.Shards.CountAsync(queue).ConfigureAwait(false) is var shards && shards > 1)
            return await EnqueueShardedAsync(queue, tasks, shards).ConfigureAwait(false);
        return await EnqueueOneAsync(queue, tasks).ConfigureAwait(false);
    }

    /// <summary>Stores tasks in one queue or shard (the body of <see cref="EnqueueAsync"/>).</summary>
    private async Task<EnqueueOutcome[]> EnqueueOneAsync(string queue, IReadOnlyList<TaskEnvelope> tasks, ISet<string>? minted = null)
    {
        var keys = Keys(queue);
        var logical = ShardRouter.Logical(queue);
        var outcomes = new EnqueueOutcome[tasks.Count];

        Task<bool>? registered = null;
        var size = Math.Max(1, Broker.Options.EnqueueBatchSize);
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
            var json = Broker.Stored(task);
            if (json.Length > Broker.Options.MaxTaskBytes)
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

    /// <summary>The tasks of a sharded queue, each to its shard (<see cref="ShardRouter.Place"/>), the shards at the same time.</summary>
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
            var shard = ShardRouter.Place(queue, shards, task.Id, task.UniqueKey);
            if (!groups.TryGetValue(shard, out var positions)) groups[shard] = positions = new List<int>();
            positions.Add(i);
        }
        var calls = groups.Select(g => (g.Value.ToArray(), EnqueueOneAsync(g.Key, g.Value.Select(p => tasks[p]).ToList(), minted))).ToList();
        return await GatherAsync(calls, new EnqueueOutcome[tasks.Count]).ConfigureAwait(false);
    }

    /// <summary>A task of an enqueue call on its way to Redis: where it stands in the call, and what is stored.</summary>
    internal readonly struct Storing
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
        return Transitions.Enqueue.Read(await RunAsync(Transitions.Enqueue.Script, keys, Transitions.Enqueue.Args(keys, batch)).ConfigureAwait(false));
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
        var length = await Broker.CheckKeyTypesAsync(new[] { keys.Tasks, keys.Pending }, async () =>
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
}

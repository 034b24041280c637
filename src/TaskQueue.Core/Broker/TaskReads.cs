using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>
/// What a task, a queue or its records look like, read without changing anything (the inspection side of the broker,
/// as asynq's inspector is): states, counts, records, queue names.
/// </summary>
public sealed class TaskReads : BrokerStore
{
    internal TaskReads(RedisBroker broker) : base(broker) { }

    /// <summary>A task as stored (with its signature line, if any); null when its body is gone.</summary>
    public async Task<byte[]?> GetStoredTaskAsync(string queue, string id) =>
        (byte[]?)await Db.HashGetAsync(Keys(await Broker.Shards.LocateAsync(queue, id).ConfigureAwait(false)).Tasks, id).ConfigureAwait(false);

    /// <summary>
    /// For each id: Succeeded or Failed once the task finished, Unknown when Redis has no such task
    /// (never sent, or its record expired), Pending for any state in between. Pipelined: three reads per id.
    /// </summary>
    public async Task<TaskState[]> GetOutcomesAsync(string queue, IReadOnlyList<string> ids)
    {
        var shards = await Broker.Shards.OfAsync(queue).ConfigureAwait(false);
        if (shards.Length > 1)
        {
            // Each id from the shard its id places it in, where it is unless a unique key placed it; the ids not
            // found there from every shard.
            var states = new TaskState[ids.Count];
            var placed = Enumerable.Range(0, ids.Count).GroupBy(i => ShardRouter.Place(queue, shards.Length, ids[i], null));
            await Task.WhenAll(placed.Select(async group =>
            {
                var found = await GetOutcomesOneAsync(group.Key, group.Select(i => ids[i]).ToList()).ConfigureAwait(false);
                var j = 0;
                foreach (var i in group) states[i] = found[j++];
            })).ConfigureAwait(false);
            var unknown = Enumerable.Range(0, ids.Count).Where(i => states[i] == TaskState.Unknown).ToList();
            if (unknown.Count == 0) return states;
            var each = await Task.WhenAll(shards.Select(s => GetOutcomesOneAsync(s, unknown.Select(i => ids[i]).ToList()))).ConfigureAwait(false);
            for (var j = 0; j < unknown.Count; j++) states[unknown[j]] = each.Select(e => e[j]).FirstOrDefault(state => state != TaskState.Unknown);
            return states;
        }
        return await GetOutcomesOneAsync(queue, ids).ConfigureAwait(false);
    }

    private async Task<TaskState[]> GetOutcomesOneAsync(string queue, IReadOnlyList<string> ids)
    {
        var k = Keys(queue);
        var db = Db;
        // The body first, then the records, in this order on one connection: a task that finishes between the reads
        // was seen with its body, so it reads as pending (or finished), never as unknown.
        var exists = ids.Select(id => db.HashExistsAsync(k.Tasks, id)).ToArray();
        var succeeded = ids.Select(id => db.SortedSetScoreAsync(k.Succeeded, id)).ToArray();
        var failed = ids.Select(id => db.SortedSetScoreAsync(k.Failed, id)).ToArray();
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

    /// <summary>Whether Redis shows a task of a queue or shard (as stored) leased to <paramref name="workerId"/>, its lease running past <paramref name="nowMs"/>.</summary>
    public async Task<bool> HoldsLeaseAsync(string storedQueue, string id, string workerId, long nowMs)
    {
        var k = Keys(storedQueue);
        var db = Db;
        var owner = db.HashGetAsync(k.Owners, id);
        var deadline = db.SortedSetScoreAsync(k.Active, id);
        return (string?)await owner.ConfigureAwait(false) == workerId && await deadline.ConfigureAwait(false) is { } ends && ends > nowMs;
    }

    /// <summary>
    /// Of the given tasks, those waiting to be retried, each with the error of its last attempt (Wait-TqTask warns of
    /// them). Pipelined: one read per id and shard, and one more per retrying task.
    /// </summary>
    public async Task<IReadOnlyList<TaskError>> GetRetryingAsync(string queue, IReadOnlyList<string> ids)
    {
        var errors = new List<TaskError>();
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
        {
            var k = Keys(shard);
            var db = Db;
            var due = await Task.WhenAll(ids.Select(id => db.SortedSetScoreAsync(k.Retry, id))).ConfigureAwait(false);
            var retrying = ids.Where((_, i) => due[i].HasValue).Select(id => (RedisValue)id).ToArray();
            if (retrying.Length == 0) continue;
            foreach (var json in await db.HashGetAsync(k.Errors, retrying).ConfigureAwait(false))
            {
                if (!json.HasValue) continue;
                try { errors.Add(TqJson.ReadError(json)!); }
                catch (JsonException) { }
            }
        }
        return errors;
    }

    public async Task<TaskSnapshot> InspectAsync(string queue, string id)
    {
        var k = Keys(await Broker.Shards.LocateAsync(queue, id).ConfigureAwait(false));
        return Transitions.Inspect.Read(queue, id, await RunAsync(Transitions.Inspect.Script, k, Transitions.Inspect.Args(id)).ConfigureAwait(false));
    }

    /// <summary>
    /// The tasks of a queue in one state, without their ids (Get-TqTask -State): pending ones in the order they will be
    /// leased, active ones by lease deadline, retrying, scheduled and waiting ones by due time (soonest first), finished
    /// ones newest first; at most <paramref name="first"/> (from each shard, then the first of them all).
    /// </summary>
    public async Task<IReadOnlyList<TaskSnapshot>> ListAsync(string queue, TaskState state, int first)
    {
        var parts = await Broker.Shards.EachAsync(queue, shard => ListOneAsync(shard, queue, state, first)).ConfigureAwait(false);
        var all = parts.SelectMany(p => p);
        if (parts.Length > 1)
            all = state is TaskState.Succeeded or TaskState.Failed
                ? all.OrderByDescending(t => t.StateSince)
                : all.OrderBy(t => t.DueAt ?? t.LeaseExpiresAt ?? t.StateSince ?? t.Envelope?.EnqueuedAt);
        return all.Take(first).ToList();
    }

    private async Task<IReadOnlyList<TaskSnapshot>> ListOneAsync(string shard, string queue, TaskState state, int first)
    {
        var k = Keys(shard);
        var db = Db;
        RedisValue[] ids;
        switch (state)
        {
            case TaskState.Pending:
                // Leased from the tail, high before normal before low.
                var lists = await Task.WhenAll(k.PendingLists.Select(list => db.ListRangeAsync(list, -first, -1))).ConfigureAwait(false);
                ids = lists.SelectMany(l => Enumerable.Reverse(l)).Take(first).ToArray();
                break;
            case TaskState.Active: ids = await db.SortedSetRangeByRankAsync(k.Active, 0, first - 1).ConfigureAwait(false); break;
            case TaskState.Retrying: ids = await db.SortedSetRangeByRankAsync(k.Retry, 0, first - 1).ConfigureAwait(false); break;
            case TaskState.Scheduled: ids = await db.SortedSetRangeByRankAsync(k.Scheduled, 0, first - 1).ConfigureAwait(false); break;
            case TaskState.Waiting: ids = await db.SortedSetRangeByRankAsync(k.Waiting, 0, first - 1).ConfigureAwait(false); break;
            case TaskState.Succeeded: ids = await db.SortedSetRangeByRankAsync(k.Succeeded, 0, first - 1, Order.Descending).ConfigureAwait(false); break;
            case TaskState.Failed: ids = await db.SortedSetRangeByRankAsync(k.Failed, 0, first - 1, Order.Descending).ConfigureAwait(false); break;
            default: throw new ArgumentException($"Tasks cannot be listed in state {state}.", nameof(state));
        }
        var replies = await Task.WhenAll(ids.Select(id => RunAsync(Transitions.Inspect.Script, k, Transitions.Inspect.Args(id!)))).ConfigureAwait(false);
        // A task that moved on between the listing and its reading is shown in its new state; one gone is left out.
        return ids.Select((id, i) => Transitions.Inspect.Read(queue, id!, replies[i])).Where(t => t.State != TaskState.Unknown).ToList();
    }

    /// <summary>
    /// Tasks that wait for others (Send-TqTask -DependsOn), longest waiting first: each with when it began to wait and
    /// how many of its dependencies have no known outcome yet (the dashboard's Waiting list).
    /// </summary>
    public async Task<IReadOnlyList<(TaskEnvelope Task, DateTimeOffset Since, long Remaining)>> GetWaitingAsync(string queue, int first)
    {
        var list = new List<(TaskEnvelope, DateTimeOffset, long)>();
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
        {
            var k = Keys(shard);
            var entries = await Db.SortedSetRangeByRankWithScoresAsync(k.Waiting, 0, first - 1).ConfigureAwait(false);
            if (entries.Length == 0) continue;
            var ids = entries.Select(e => e.Element).ToArray();
            var bodies = Db.HashGetAsync(k.Tasks, ids);
            var remaining = await Db.HashGetAsync(k.Remaining, ids).ConfigureAwait(false);
            var json = await bodies.ConfigureAwait(false);
            for (var i = 0; i < ids.Length; i++)
            {
                TaskEnvelope envelope;
                try { envelope = TqJson.ReadEnvelope(json[i]); }
                catch (MalformedTaskException) { envelope = new TaskEnvelope { Id = ids[i]!, Queue = queue }; }
                envelope.Id = ids[i]!;
                list.Add((envelope, ClockExtensions.FromUnixMs((long)entries[i].Score), (long?)remaining[i] ?? 0));
            }
        }
        return list.OrderBy(t => t.Item2).Take(first).ToList();
    }

    /// <summary>The tasks that wait for a task (Send-TqTask -DependsOn) and were registered with it.</summary>
    public async Task<IReadOnlyList<TaskRef>> GetDependentsAsync(string queue, string id)
    {
        var shard = await Broker.Shards.LocateAsync(queue, id).ConfigureAwait(false);
        var lines = (string?)await Db.HashGetAsync(Keys(shard).Dependents, id).ConfigureAwait(false);
        if (string.IsNullOrEmpty(lines)) return Array.Empty<TaskRef>();
        return lines!.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .Where(f => f.Length >= 2)
            .Select(f => new TaskRef { Queue = ShardRouter.Logical(f[0]), Id = f[1] })
            .ToList();
    }

    /// <summary>How many tasks of a queue are in each state.</summary>
    public Task<QueueCounts> CountAsync(string queue) => CountAsync<QueueCounts>(queue);

    /// <summary>The counts as <typeparamref name="T"/>: a caller's own record type that extends <see cref="QueueCounts"/> is filled in place.</summary>
    public async Task<T> CountAsync<T>(string queue) where T : QueueCounts, new()
    {
        var parts = await Broker.Shards.EachAsync(queue, CountOneAsync<T>).ConfigureAwait(false);
        if (parts.Length == 1) return parts[0];
        return new T
        {
            Name = queue,
            Pending = parts.Sum(p => p.Pending),
            Scheduled = parts.Sum(p => p.Scheduled),
            Waiting = parts.Sum(p => p.Waiting),
            Active = parts.Sum(p => p.Active),
            Retrying = parts.Sum(p => p.Retrying),
            Succeeded = parts.Sum(p => p.Succeeded),
            Failed = parts.Sum(p => p.Failed),
            Suspended = parts.Any(p => p.Suspended),
            // Split over the shards (QueueLimits.Shares): the shares add up to the queue's limit.
            ConcurrencyLimit = parts[0].ConcurrencyLimit is null ? null : parts.Sum(p => p.ConcurrencyLimit ?? 0),
            RateLimit = parts[0].RateLimit is null ? null : parts.Sum(p => p.RateLimit ?? 0),
            RatePeriod = parts[0].RatePeriod,
            HeldBack = parts.Sum(p => p.HeldBack),
            HandedBackForVersion = parts.Sum(p => p.HandedBackForVersion),
        };
    }

    /// <summary>The counts of one queue or shard, as stored.</summary>
    internal async Task<T> CountOneAsync<T>(string queue) where T : QueueCounts, new()
    {
        var k = Keys(queue);
        var db = Db;
        var pending = db.ListLengthAsync(k.Pending);
        var pendingHigh = db.ListLengthAsync(k.PendingHigh);
        var pendingLow = db.ListLengthAsync(k.PendingLow);
        var active = db.SortedSetLengthAsync(k.Active);
        var retrying = db.SortedSetLengthAsync(k.Retry);
        var succeeded = db.SortedSetLengthAsync(k.Succeeded);
        var failed = db.SortedSetLengthAsync(k.Failed);
        var scheduled = db.SortedSetLengthAsync(k.Scheduled);
        var waiting = db.SortedSetLengthAsync(k.Waiting);
        var limits = db.HashGetAsync(k.Limits, LimitFields);
        var handedBack = db.HashGetAsync(k.Totals, QueueStatistics.HandedBackForVersionField);
        await Broker.CheckKeyTypesAsync(new[] { k.Pending, k.PendingHigh, k.PendingLow, k.Active, k.Retry, k.Succeeded, k.Failed, k.Scheduled, k.Waiting }, async () =>
        {
            await Task.WhenAll(pending, pendingHigh, pendingLow, active, retrying, succeeded, failed, scheduled, waiting, limits, handedBack).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
        var counts = new T
        {
            Name = queue,
            Pending = await pending.ConfigureAwait(false) + await pendingHigh.ConfigureAwait(false) + await pendingLow.ConfigureAwait(false),
            Scheduled = await scheduled.ConfigureAwait(false),
            Waiting = await waiting.ConfigureAwait(false),
            Active = await active.ConfigureAwait(false),
            Retrying = await retrying.ConfigureAwait(false),
            Succeeded = await succeeded.ConfigureAwait(false),
            Failed = await failed.ConfigureAwait(false),
            HandedBackForVersion = (long?)await handedBack.ConfigureAwait(false) ?? 0,
        };
        // Flow control (fetch.lua enforces it): the limits, and how many pending tasks they hold back now.
        var set = await limits.ConfigureAwait(false);
        counts.Suspended = set[0].HasValue;
        counts.ConcurrencyLimit = set[1].HasValue ? (int)set[1] : null;
        counts.RateLimit = set[2].HasValue ? (int)set[2] : null;
        counts.RatePeriod = set[3].HasValue ? TimeSpan.FromMilliseconds((long)set[3]) : null;
        var held = counts.Suspended || (counts.ConcurrencyLimit is { } most && counts.Active >= most);
        if (!held && counts.RateLimit is not null && counts.Pending > 0)
            held = (long?)await db.StringGetAsync(k.RateState).ConfigureAwait(false) is { } next && next > Broker.Clock.UtcNow.ToUnixMs();
        counts.HeldBack = held ? counts.Pending : 0;
        return counts;
    }

    /// <summary>The fields of the limits hash that the counts show, in <see cref="CountOneAsync{T}"/>'s order.</summary>
    private static readonly RedisValue[] LimitFields = { "suspended", "concurrency", "rate", "period" };

    /// <summary>Names of the queues that ever received a task, sorted.</summary>
    public async Task<string[]> ListQueuesAsync()
    {
        var members = await Db.SetMembersAsync(QueueKeys.Queues).ConfigureAwait(false);
        return members.Select(m => (string)m!).Where(QueueName.IsValid).OrderBy(n => n, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Success records, newest first, or those with the given ids. A record that is not valid JSON reads as <see cref="Unreadable(string, string)"/>.</summary>
    public async Task<IReadOnlyList<TaskResult>> GetResultsAsync(string queue, int first, IReadOnlyList<string>? ids = null, int skip = 0)
    {
        var shards = await Broker.Shards.OfAsync(queue).ConfigureAwait(false);
        if (shards.Length > 1)
        {
            // The newest first + skip of every shard hold the newest first + skip of the queue.
            var each = await Task.WhenAll(shards.Select(s => GetResultsOneAsync(s, ids is null ? first + skip : first, ids, 0))).ConfigureAwait(false);
            var merged = each.SelectMany(r => r).OrderByDescending(r => r.CompletedAt);
            foreach (var record in each.SelectMany(r => r)) record.Queue = queue;
            return (ids is null ? merged.Skip(skip).Take(first) : merged).ToList();
        }
        return await GetResultsOneAsync(queue, first, ids, skip).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<TaskResult>> GetResultsOneAsync(string queue, int first, IReadOnlyList<string>? ids, int skip)
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

    /// <summary>
    /// A task's success and failure records as stored (raw JSON, nothing patched), from whichever shard holds them:
    /// what a worker checks the proof of (Security.RecordProof) before a waiting task reads them.
    /// </summary>
    public async Task<(string? Result, string? Error)> GetStoredOutcomeAsync(string queue, string id)
    {
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
        {
            var k = Keys(shard);
            var result = Db.HashGetAsync(k.Results, id);
            var error = Db.HashGetAsync(k.Errors, id);
            var (r, e) = ((string?)await result.ConfigureAwait(false), (string?)await error.ConfigureAwait(false));
            if (r is not null || e is not null) return (r, e);
        }
        return (null, null);
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
        => await GetFailuresAsync(queue, first, ids, skip, maxTaskBytes, TaskState.Failed).ConfigureAwait(false);

    /// <summary>
    /// The ids of a queue's failures, without their records: with <paramref name="retrying"/>, those of the tasks
    /// whose last attempt failed and that wait to be retried (soonest first), then with <paramref name="failed"/> those
    /// that failed for good (newest first). Read whole, then paged (Get-TqFailure), so that retrying them while they
    /// are listed skips none.
    /// </summary>
    public async Task<IReadOnlyList<(string Id, TaskState State)>> ListFailureIdsAsync(string queue, bool failed, bool retrying)
    {
        var parts = await Broker.Shards.EachAsync(queue, async shard =>
        {
            var k = Keys(shard);
            var r = retrying ? Db.SortedSetRangeByRankWithScoresAsync(k.Retry) : Task.FromResult(Array.Empty<SortedSetEntry>());
            var f = failed ? Db.SortedSetRangeByRankWithScoresAsync(k.Failed, order: Order.Descending) : Task.FromResult(Array.Empty<SortedSetEntry>());
            return (Retrying: await r.ConfigureAwait(false), Failed: await f.ConfigureAwait(false));
        }).ConfigureAwait(false);
        return parts.SelectMany(p => p.Retrying).OrderBy(e => e.Score).Select(e => ((string)e.Element!, TaskState.Retrying))
            .Concat(parts.SelectMany(p => p.Failed).OrderByDescending(e => e.Score).Select(e => ((string)e.Element!, TaskState.Failed)))
            .ToList();
    }

    /// <summary>
    /// As <see cref="GetFailuresAsync(string, int, IReadOnlyList{string}?, int, int?)"/>, for the failures in
    /// <paramref name="state"/>: Failed (failure records), or Retrying (tasks waiting for their next attempt, with the
    /// error of the last one).
    /// </summary>
    public async Task<IReadOnlyList<FailureEntry>> GetFailuresAsync(string queue, int first, IReadOnlyList<string>? ids, int skip, int? maxTaskBytes, TaskState state)
    {
        var shards = await Broker.Shards.OfAsync(queue).ConfigureAwait(false);
        if (shards.Length > 1)
        {
            var each = await Task.WhenAll(shards.Select(s => GetFailuresOneAsync(s, ids is null ? first + skip : first, ids, 0, maxTaskBytes, state))).ConfigureAwait(false);
            var merged = each.SelectMany(r => r).OrderByDescending(f => f.Error.FailedAt);
            foreach (var entry in each.SelectMany(r => r)) entry.Error.Queue = queue;
            return (ids is null ? merged.Skip(skip).Take(first) : merged).ToList();
        }
        return await GetFailuresOneAsync(queue, first, ids, skip, maxTaskBytes, state).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<FailureEntry>> GetFailuresOneAsync(string queue, int first, IReadOnlyList<string>? ids, int skip, int? maxTaskBytes, TaskState state)
    {
        var k = Keys(queue);
        var db = Db;
        var set = state == TaskState.Retrying ? k.Retry : k.Failed;
        RedisValue[] wanted;
        // Each record's score too: for a retrying task, when its next attempt is due.
        double?[] due;
        if (ids is null)
        {
            var ranked = await db.SortedSetRangeByRankWithScoresAsync(set, skip, skip + first - 1,
                state == TaskState.Retrying ? Order.Ascending : Order.Descending).ConfigureAwait(false);
            wanted = ranked.Select(e => e.Element).ToArray();
            due = ranked.Select(e => (double?)e.Score).ToArray();
        }
        else
        {
            // Only ids in that state: a retrying task's last error is kept beside the failure records.
            var scores = await Task.WhenAll(ids.Select(id => db.SortedSetScoreAsync(set, id))).ConfigureAwait(false);
            wanted = ids.Where((_, i) => scores[i].HasValue).Select(i => (RedisValue)i).ToArray();
            due = scores.Where(score => score.HasValue).ToArray();
        }
        if (wanted.Length == 0) return Array.Empty<FailureEntry>();
        var errors = db.HashGetAsync(k.Errors, wanted);
        RedisValue[] taskJson;
        long[]? sizes = null;
        if (maxTaskBytes is { } limit)
        {
            (taskJson, sizes) = Transitions.Peek.Read(await RunAsync(Transitions.Peek.Script, k, Transitions.Peek.Args(limit, wanted)).ConfigureAwait(false));
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
            entries.Add(new FailureEntry(error, envelope, taskJson[i], sizes?[i] ?? ((byte[]?)taskJson[i])?.Length ?? 0)
            {
                State = state,
                NextAttemptAt = state == TaskState.Retrying && due[i] is { } at ? ClockExtensions.FromUnixMs((long)at) : null,
            });
        }
        return entries;
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

namespace TaskQueue.Core.Broker;

/// <summary>Recurring schedules of a queue: stored (signed when the broker signs), listed, and fired once per occurrence.</summary>
public sealed class ScheduleStore : BrokerStore
{
    internal ScheduleStore(RedisBroker broker) : base(broker) { }

    /// <summary>Stores a recurring schedule and its next due time (none while disabled), atomically; signed when this broker signs.</summary>
    public async Task SaveScheduleAsync(ScheduleDefinition schedule, DateTimeOffset? nextDue)
    {
        var k = Keys(schedule.Queue);
        byte[] stored;
        if (Broker.Options.Signing is { } keyring)
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
        // The queue's name goes into the global list apart from the transaction: on a Redis Cluster that list lives in
        // another slot than the queue's keys, and a transaction must stay within one.
        var registered = Db.SetAddAsync(QueueKeys.Queues, schedule.Queue);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        await Task.WhenAll(saved, due, registered).ConfigureAwait(false);
        // Idle workers look at a queue's schedules when the next one is due, which they learn from this message.
        if (schedule.Enabled && nextDue is { } at)
            await Db.PublishAsync(RedisChannel.Literal(k.WakeChannel), "due:" + at.ToUnixMs().ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
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

    /// <summary>A schedule's last run as stored (with its signature line, if any); null when it never ran.</summary>
    public async Task<byte[]?> GetStoredRunAsync(string queue, string name) =>
        (byte[]?)await Db.HashGetAsync(Keys(queue).ScheduleRuns, name).ConfigureAwait(false);

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

    /// <summary>When the next occurrence of any schedule of the queue is due; null when none is.</summary>
    public async Task<DateTimeOffset?> NextScheduleDueAsync(string queue)
    {
        var first = await Db.SortedSetRangeByRankWithScoresAsync(Keys(queue).ScheduleDue, 0, 0).ConfigureAwait(false);
        return first.Length == 0 ? null : ClockExtensions.FromUnixMs((long)first[0].Score);
    }

    /// <summary>
    /// Fires one occurrence, if no other worker did: moves the due time on and enqueues the task (null: skip it),
    /// signed when this broker signs and <paramref name="sign"/> says the schedule itself was signed.
    /// </summary>
    public async Task<bool> FireAsync(string queue, string name, long dueMs, DateTimeOffset? next, ScheduleRun? run, TaskEnvelope? task, bool sign = true)
    {
        var k = Keys(queue);
        RedisValue stored = task is null ? "" : sign ? Broker.Stored(task) : TqJson.SerializeToUtf8(task);
        RedisValue record = "";
        if (run is not null)
        {
            // The run says which occurrence fired last; signed like the task, so a Redis writer cannot roll it back.
            run.Queue = queue;
            run.Name = name;
            var json = TqJson.SerializeToUtf8(run);
            record = sign && Broker.Options.Signing is { } keyring ? EnvelopeSignature.Sign(json, keyring) : json;
        }
        var result = await RunAsync(Transitions.Fire.Script, k, Transitions.Fire.Args(k, name, dueMs, next, record, task?.Id, stored, task?.Level))
            .ConfigureAwait(false);
        return Transitions.Fire.Read(result);
    }
}

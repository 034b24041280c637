using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Tasks' stream logs (<see cref="QueueKeys.Log"/>): appended by workers while tasks run, read and followed by
/// Get-TqTaskLog, Receive-TqTask and the dashboard. A log is a list, so a follower reads on from the count it has.
/// </summary>
public sealed class TaskLogs : BrokerStore
{
    internal TaskLogs(RedisBroker broker) : base(broker) { }

    /// <summary>
    /// Appends entries (JSON documents) to the log of a task of a queue or shard as stored, and sets the log to expire
    /// after <paramref name="ttl"/>. Not waited for: a log is written beside the task's work, never in its way, and
    /// commands on one connection run in the order given, so a batch written before the task's record lands before it.
    /// </summary>
    public void Append(string storedQueue, string id, IReadOnlyList<string> entries, TimeSpan ttl)
    {
        var key = Keys(storedQueue).Log(id);
        var values = new RedisValue[entries.Count];
        for (var i = 0; i < values.Length; i++) values[i] = entries[i];
        var db = Db;
        if (values.Length > 0) db.ListRightPush(key, values, flags: CommandFlags.FireAndForget);
        db.KeyExpire(key, ttl, CommandFlags.FireAndForget);
    }

    /// <summary>The queue or shard that holds a task's log (where the task is).</summary>
    public Task<string> LocateAsync(string queue, string id) => Broker.Shards.LocateAsync(queue, id);

    /// <summary>The entries of a task's log from index <paramref name="from"/> on, in order, with the index after the last one read.</summary>
    public async Task<(IReadOnlyList<TaskStreamEntry> Entries, long Next)> ReadAsync(string storedQueue, string id, long from, long max = 1000)
    {
        var values = await Db.ListRangeAsync(Keys(storedQueue).Log(id), from, from + max - 1).ConfigureAwait(false);
        var entries = new List<TaskStreamEntry>(values.Length);
        foreach (var value in values)
        {
            if (TqJson.ReadStreamEntry(value) is { } entry) entries.Add(entry);
        }
        return (entries, from + values.Length);
    }

    /// <summary>The whole log of a task, in order (at most a few thousand entries per attempt: the writer bounds it).</summary>
    public async Task<IReadOnlyList<TaskStreamEntry>> ReadAllAsync(string queue, string id)
    {
        var shard = await LocateAsync(queue, id).ConfigureAwait(false);
        var all = new List<TaskStreamEntry>();
        long next = 0;
        while (true)
        {
            var (entries, after) = await ReadAsync(shard, id, next).ConfigureAwait(false);
            all.AddRange(entries);
            if (after - next < 1000) return all;
            next = after;
        }
    }

    /// <summary>Removes a task's log (with the task: Remove-TqTask).</summary>
    internal Task DeleteAsync(string storedQueue, string id) => Db.KeyDeleteAsync(Keys(storedQueue).Log(id));
}

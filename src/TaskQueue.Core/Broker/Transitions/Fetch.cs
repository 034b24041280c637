using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>fetch.lua: leases pending tasks to a worker (priorities, limits, replays dropped). Its keys, arguments and reply.</summary>
internal static class Fetch
{
    public static readonly QueueScript Script = QueueScript.Load("fetch.lua", k => new[] { k.Pending, k.Active, k.Tasks, k.Attempts, k.Owners, k.Recoveries, k.Limits, k.RateState, k.PendingHigh, k.PendingLow, k.Levels, k.Passed, k.Succeeded, k.Failed });

    public static RedisValue[] Args(string workerId, DateTimeOffset leaseDeadline, int max, DateTimeOffset now) =>
        new RedisValue[] { workerId, leaseDeadline.ToUnixMs(), max, now.ToUnixMs() };

    /// <summary>
    /// Pairs of id and envelope, then the triples (position, attempt, recoveries) of tasks past their first attempt,
    /// then the tasks left, the earliest lease deadline and what holds the queue back.
    /// </summary>
    public static FetchReply Read(string queue, RedisResult reply)
    {
        var result = (RedisResult[])reply!;
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
}

using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>promote.lua: due retries and scheduled tasks to pending. Its keys, arguments and reply.</summary>
internal static class Promote
{
    public static readonly QueueScript Script = QueueScript.Load("promote.lua", k => new[] { k.Retry, k.Pending, k.Scheduled, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(QueueKeys keys, DateTimeOffset now, int limit) => new RedisValue[] { keys.WakeChannel, now.ToUnixMs(), limit };

    /// <summary>How many moved, and when the next one is due (null: none).</summary>
    public static (long Moved, DateTimeOffset? NextDue) Read(RedisResult reply)
    {
        var result = (RedisResult[])reply!;
        var nextDue = (long)result[1];
        return ((long)result[0], nextDue < 0 ? null : ClockExtensions.FromUnixMs(nextDue));
    }
}

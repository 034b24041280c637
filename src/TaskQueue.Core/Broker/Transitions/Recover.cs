using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>recover.lua: tasks whose lease ran out back to the front of pending. Its keys, arguments and reply.</summary>
internal static class Recover
{
    public static readonly QueueScript Script = QueueScript.Load("recover.lua", k => new[] { k.Active, k.Owners, k.Pending, k.Recoveries, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(QueueKeys keys, DateTimeOffset now, int limit) => new RedisValue[] { keys.WakeChannel, now.ToUnixMs(), limit };

    /// <summary>The tasks moved with the worker that held each, and the lease that runs out next (null: none).</summary>
    public static ((string Id, string Worker)[] Moved, DateTimeOffset? NextDeadline) Read(RedisResult reply)
    {
        var parts = (RedisResult[])reply!;
        var pairs = (RedisResult[])parts[0]!;
        var next = (long)parts[1];
        var moved = new (string, string)[pairs.Length / 2];
        for (var i = 0; i < moved.Length; i++) moved[i] = ((string)pairs[2 * i]!, (string?)pairs[2 * i + 1] ?? "");
        return (moved, next < 0 ? null : ClockExtensions.FromUnixMs(next));
    }
}

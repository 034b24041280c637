using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>trim.lua: success and failure records older than their retention. Its keys, arguments and reply.</summary>
internal static class Trim
{
    public static readonly QueueScript Script = QueueScript.Load("trim.lua", k => new[] { k.Succeeded, k.Results, k.Failed, k.Errors, k.Tasks, k.Levels, k.Remaining, k.Settled });

    public static RedisValue[] Args(DateTimeOffset oldestSuccess, DateTimeOffset oldestFailure, int limit) =>
        new RedisValue[] { oldestSuccess.ToUnixMs(), oldestFailure.ToUnixMs(), limit };

    /// <summary>Success records removed, failure records removed.</summary>
    public static (long Successes, long Failures) Read(RedisResult reply)
    {
        var removed = (RedisResult[])reply!;
        return ((long)removed[0], (long)removed[1]);
    }
}

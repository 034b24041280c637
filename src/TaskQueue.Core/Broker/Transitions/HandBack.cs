using System.Collections.Generic;
using System.Linq;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>handback.lua: leased tasks back to the front of pending, the attempt not counted (a worker stops). Its keys, arguments and reply.</summary>
internal static class HandBack
{
    public static readonly QueueScript Script = QueueScript.Load("handback.lua", k => new[] { k.Active, k.Owners, k.Pending, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(QueueKeys keys, string workerId, IReadOnlyCollection<string> ids) =>
        new RedisValue[] { keys.WakeChannel, workerId }.Concat(ids.Select(id => (RedisValue)id)).ToArray();

    /// <summary>How many tasks went back.</summary>
    public static long Read(RedisResult reply) => (long)reply;
}

using System;
using System.Collections.Generic;
using System.Linq;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>defer.lua: leased tasks back for later, scheduled at a due time, the attempt not counted. Its keys, arguments and reply.</summary>
internal static class Defer
{
    public static readonly QueueScript Script = QueueScript.Load("defer.lua", k => new[] { k.Active, k.Owners, k.Scheduled });

    public static RedisValue[] Args(QueueKeys keys, string workerId, DateTimeOffset due, IReadOnlyCollection<string> ids) =>
        new RedisValue[] { keys.WakeChannel, workerId, due.ToUnixMs() }.Concat(ids.Select(id => (RedisValue)id)).ToArray();

    /// <summary>How many tasks were handed back.</summary>
    public static long Read(RedisResult reply) => (long)reply;
}

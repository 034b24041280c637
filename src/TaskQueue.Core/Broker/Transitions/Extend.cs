using System;
using System.Collections.Generic;
using System.Linq;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>extend.lua: a worker's heartbeat renews its leases and learns which were lost or canceled. Its keys, arguments and reply.</summary>
internal static class Extend
{
    public static readonly QueueScript Script = QueueScript.Load("extend.lua", k => new[] { k.Active, k.Owners, k.Canceled });

    public static RedisValue[] Args(string workerId, DateTimeOffset leaseDeadline, IReadOnlyCollection<string> ids) =>
        new RedisValue[] { workerId, leaseDeadline.ToUnixMs() }.Concat(ids.Select(id => (RedisValue)id)).ToArray();

    /// <summary>Pairs of id and 'lost' or 'canceled'; anything else is an error.</summary>
    public static (string[] Lost, string[] Canceled) Read(RedisResult reply)
    {
        var pairs = (RedisResult[])reply!;
        var lost = new List<string>();
        var canceled = new List<string>();
        for (var i = 0; i + 1 < pairs.Length; i += 2)
        {
            var why = (string?)pairs[i + 1];
            var list = why == "lost" ? lost : why == "canceled" ? canceled : throw new UnexpectedScriptReplyException(Script.Name, why ?? "(nil)");
            list.Add((string)pairs[i]!);
        }
        return (lost.ToArray(), canceled.ToArray());
    }
}

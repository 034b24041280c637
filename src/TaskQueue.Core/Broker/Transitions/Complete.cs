using System;
using System.Collections.Generic;
using System.Linq;
using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>complete.lua: success records of a batch of leased tasks, each only while its lease is held. Its keys, arguments and reply.</summary>
internal static class Complete
{
    public static readonly QueueScript Script = QueueScript.Load("complete.lua", k => new[] { k.Active, k.Owners, k.Succeeded, k.Results, k.Tasks, k.Attempts, k.Unique, k.Recoveries, k.Canceled, k.Dependents, k.Handover, k.Limits, k.Levels });

    /// <summary>Worker id, oldest time kept, most records kept, queue, wake channel, then per task: id, record, unique key, completion time.</summary>
    public static RedisValue[] Args(QueueKeys keys, string workerId, DateTimeOffset oldestKept, int maxRecords, IReadOnlyList<(string Id, RedisValue Record, string? UniqueKey, DateTimeOffset CompletedAt)> completions)
    {
        var args = new RedisValue[5 + 4 * completions.Count];
        args[0] = workerId;
        args[1] = oldestKept.ToUnixMs();
        args[2] = maxRecords;
        args[3] = keys.Queue;
        args[4] = keys.WakeChannel;
        for (var i = 0; i < completions.Count; i++)
        {
            var (id, record, uniqueKey, completedAt) = completions[i];
            args[5 + 4 * i] = id;
            args[6 + 4 * i] = record;
            args[7 + 4 * i] = uniqueKey ?? "";
            args[8 + 4 * i] = completedAt.ToUnixMs();
        }
        return args;
    }

    /// <summary>Per task: 1 recorded, 2 recorded and tasks wait for it (hand-over queued), 0 the lease was lost.</summary>
    public static int[] Read(RedisResult reply) =>
        ((RedisResult[])reply!).Select(f => ScriptReply.Code(Script, f, (1L, 1), (2L, 2), (0L, 0))).ToArray();
}

using System.Collections.Generic;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>
/// enqueue.lua: new tasks stored and filed (pending of their level, or scheduled), ids checked and unique keys claimed.
/// Its keys, arguments (the per-task quintuple is stable: docs/PROTOCOL.md "Versions and compatibility") and reply.
/// </summary>
internal static class Enqueue
{
    public static readonly QueueScript Script = QueueScript.Load("enqueue.lua", k => new[] { k.Tasks, k.Pending, k.Unique, k.Failed, k.Scheduled, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(QueueKeys keys, IReadOnlyList<TaskEnqueuer.Storing> tasks)
    {
        var args = new RedisValue[1 + 5 * tasks.Count];
        args[0] = keys.WakeChannel;
        for (var k = 0; k < tasks.Count; k++)
        {
            args[1 + 5 * k] = tasks[k].Id;
            args[2 + 5 * k] = tasks[k].Json;
            args[3 + 5 * k] = tasks[k].UniqueKey;
            args[4 + 5 * k] = tasks[k].DueMs;
            args[5 + 5 * k] = tasks[k].Level;
        }
        return args;
    }

    /// <summary>Per task: stored, the id exists already, or the id of the live task that holds its unique key.</summary>
    public static EnqueueOutcome[] Read(RedisResult reply)
    {
        var flags = (RedisResult[])reply!;
        var outcomes = new EnqueueOutcome[flags.Length];
        for (var j = 0; j < flags.Length; j++)
        {
            var flag = flags[j];
            outcomes[j] = flag.Resp2Type == ResultType.BulkString
                ? new EnqueueOutcome(EnqueueStatus.Duplicate, (string?)flag)
                : new EnqueueOutcome(ScriptReply.Code(Script, flag, (1L, EnqueueStatus.Stored), (0L, EnqueueStatus.IdExists)));
        }
        return outcomes;
    }
}

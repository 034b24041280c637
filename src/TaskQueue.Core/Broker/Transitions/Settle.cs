using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>settle.lua: one dependency's outcome handed over to a task that waits for it. Its keys, arguments and reply.</summary>
internal static class Settle
{
    public static readonly QueueScript Script = QueueScript.Load("settle.lua", k => new[] { k.Tasks, k.Waiting, k.Remaining, k.Settled, k.Pending, k.Failed, k.Errors, k.PendingHigh, k.PendingLow, k.Levels, k.Succeeded });

    /// <summary>The waiting task, the dependency '&lt;queue&gt;/&lt;id&gt;', its outcome (s, f or r), the policy, now, and the cancellation record around the dependency's name.</summary>
    public static RedisValue[] Args(QueueKeys waiting, string waitingId, string dependency, string outcome, string policy, DateTimeOffset now, string recordBefore, string recordAfter) =>
        new RedisValue[] { waiting.WakeChannel, waitingId, dependency, outcome, policy, now.ToUnixMs(), recordBefore, recordAfter };

    /// <summary>0 nothing changed, 1 pending, 2 canceled, 3 still waiting, 4 kept for a task not stored yet, 5 brought back to waiting.</summary>
    public static long Read(RedisResult reply) =>
        ScriptReply.Code(Script, reply, (0L, 0L), (1L, 1L), (2L, 2L), (3L, 3L), (4L, 4L), (5L, 5L));
}

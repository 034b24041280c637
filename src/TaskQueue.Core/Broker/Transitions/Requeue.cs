using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>requeue.lua: a failure, or a task waiting to be retried, back to pending with a fresh attempt count (Restart-TqTask). Its keys, arguments and reply.</summary>
internal static class Requeue
{
    public static readonly QueueScript Script = QueueScript.Load("requeue.lua", k => new[] { k.Failed, k.Errors, k.Attempts, k.Tasks, k.Pending, k.Recoveries, k.Canceled, k.Dependents, k.Handover, k.PendingHigh, k.PendingLow, k.Levels, k.Retry });

    public static RedisValue[] Args(QueueKeys keys, string id, byte[]? restamped) =>
        new RedisValue[] { keys.WakeChannel, id, keys.Queue, restamped ?? Array.Empty<byte>() };

    /// <summary>The outcome, and whether tasks this one's failure canceled are to come back (hand-over lines queued).</summary>
    public static (RequeueOutcome Outcome, bool HandOver) Read(RedisResult reply)
    {
        var outcome = ScriptReply.Code(Script, reply, (1L, RequeueOutcome.Requeued), (2L, RequeueOutcome.Requeued), (0L, RequeueOutcome.NotFailed), (-1L, RequeueOutcome.TaskMissing));
        return (outcome, (long)reply == 2);
    }
}

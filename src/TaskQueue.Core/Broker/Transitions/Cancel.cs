using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>cancel.lua: Stop-TqTask, a failure record at once or a stop sent to the task's worker. Its keys, arguments and reply.</summary>
internal static class Cancel
{
    public static readonly QueueScript Script = QueueScript.Load("cancel.lua", k => new[] { k.Pending, k.Retry, k.Active, k.Failed, k.Errors, k.Canceled, k.Tasks, k.Attempts, k.Scheduled, k.Waiting, k.Remaining, k.Settled, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(QueueKeys keys, string id, DateTimeOffset now, string recordJson) =>
        new RedisValue[] { keys.CancelChannel, id, now.ToUnixMs(), recordJson };

    public static CancelOutcome Read(RedisResult reply) =>
        ScriptReply.Code(Script, reply, (1L, CancelOutcome.Canceled), (2L, CancelOutcome.StopRequested), (0L, CancelOutcome.NotCancelable));
}

using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>fail.lua: a failed attempt, a retry or a failure record, only while the lease is held. Its keys, arguments and reply.</summary>
internal static class Fail
{
    public static readonly QueueScript Script = QueueScript.Load("fail.lua", k => new[] { k.Active, k.Owners, k.Retry, k.Failed, k.Errors, k.Attempts, k.Tasks, k.Unique, k.Recoveries, k.Canceled, k.Dependents, k.Handover, k.Limits, k.Levels, k.Remaining, k.Settled });

    public static RedisValue[] Args(QueueKeys keys, string id, string workerId, DateTimeOffset failedAt, RedisValue record, DateTimeOffset? retryAt, int maxRecords, string? uniqueKey) =>
        new RedisValue[] { id, workerId, failedAt.ToUnixMs(), record, retryAt?.ToUnixMs() ?? 0, maxRecords, uniqueKey ?? "", keys.WakeChannel, keys.Queue };

    /// <summary>1 recorded, 2 failed for good and tasks wait for it (hand-over queued), 0 the lease was lost.</summary>
    public static int Read(RedisResult reply) => ScriptReply.Code(Script, reply, (1L, 1), (2L, 2), (0L, 0));
}

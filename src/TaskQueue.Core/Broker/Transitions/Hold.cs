using System;
using System.Collections.Generic;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>hold.lua: a task that waits for others stored (pending, canceled or waiting). Its keys, arguments and reply.</summary>
internal static class Hold
{
    public static readonly QueueScript Script = QueueScript.Load("hold.lua", k => new[] { k.Tasks, k.Waiting, k.Remaining, k.Settled, k.Pending, k.Failed, k.Errors, k.PendingHigh, k.PendingLow, k.Levels });

    /// <summary>The task and its policy, the cancellation record around the dependency's name, then pairs of dependency and what depend.lua said.</summary>
    public static RedisValue[] Args(QueueKeys keys, string id, byte[] stored, string policy, DateTimeOffset now, string recordBefore, string recordAfter, string level,
        IReadOnlyList<(string Dependency, string State)> states)
    {
        var args = new List<RedisValue> { keys.WakeChannel, id, stored, policy, now.ToUnixMs(), recordBefore, recordAfter, level };
        foreach (var (dependency, state) in states)
        {
            args.Add(dependency);
            args.Add(state);
        }
        return args.ToArray();
    }

    public static DependentStatus Read(RedisResult reply) =>
        ScriptReply.Code(Script, reply, (0L, DependentStatus.IdExists), (1L, DependentStatus.Pending), (2L, DependentStatus.Canceled), (3L, DependentStatus.Waiting));
}

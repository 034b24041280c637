using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>fire.lua: one occurrence of a schedule, fired once however many workers try. Its keys, arguments and reply.</summary>
internal static class Fire
{
    public static readonly QueueScript Script = QueueScript.Load("fire.lua", k => new[] { k.ScheduleDue, k.ScheduleRuns, k.Tasks, k.Pending, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(QueueKeys keys, string name, long dueMs, DateTimeOffset? next, RedisValue runRecord, string? taskId, RedisValue stored, string? level) =>
        new RedisValue[] { keys.WakeChannel, name, dueMs, next?.ToUnixMs() ?? -1, runRecord, taskId ?? "", stored, level ?? "" };

    /// <summary>True when this caller fired the occurrence (another worker did otherwise).</summary>
    public static bool Read(RedisResult reply) => ScriptReply.Flag(Script, reply);
}

using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>delete.lua: a task that is not running, with its records, whatever state it is in. Its keys, arguments and reply.</summary>
internal static class Delete
{
    public static readonly QueueScript Script = QueueScript.Load("delete.lua", k => new[] { k.Pending, k.Scheduled, k.Retry, k.Active, k.Failed, k.Succeeded, k.Tasks, k.Attempts, k.Errors, k.Results, k.Recoveries, k.Unique, k.Waiting, k.Remaining, k.Settled, k.PendingHigh, k.PendingLow, k.Levels });

    public static RedisValue[] Args(string id, string? uniqueKey) => new RedisValue[] { id, uniqueKey ?? "" };

    public static DeleteOutcome Read(RedisResult reply) =>
        ScriptReply.Code(Script, reply, (1L, DeleteOutcome.Deleted), (0L, DeleteOutcome.NotFound), (-1L, DeleteOutcome.Running));
}

using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>
/// The one owner of Redis key names. Every key of a queue carries the hash tag <c>{queue}</c>,
/// so a queue lives in one cluster slot and each Lua script can name all its keys in KEYS.
/// </summary>
public sealed class QueueKeys
{
    public const string Prefix = "tq:";

    /// <summary>SET of queue names that ever received a task (listing, tab completion).</summary>
    public static readonly RedisKey Queues = Prefix + "queues";

    /// <summary>ZSET worker id -> last heartbeat (unix ms).</summary>
    public static readonly RedisKey Workers = Prefix + "workers";

    /// <summary>HASH describing one worker (host, pid, queues, concurrency, started); expires unless refreshed.</summary>
    public static RedisKey Worker(string workerId) => Prefix + "worker:" + workerId;

    public QueueKeys(string queue)
    {
        QueueName.Validate(queue);
        Queue = queue;
        var p = Prefix + "{" + queue + "}:";
        Pending = p + "pending";
        Active = p + "active";
        Retry = p + "retry";
        Succeeded = p + "succeeded";
        Failed = p + "failed";
        Tasks = p + "tasks";
        Attempts = p + "attempts";
        Owners = p + "owners";
        Results = p + "results";
        Errors = p + "errors";
        WakeChannel = p + "wake";
    }

    public string Queue { get; }

    /// <summary>LIST of pending task ids: enqueued at the head, leased from the tail.</summary>
    public RedisKey Pending { get; }
    /// <summary>ZSET task id -> lease deadline (unix ms) of tasks a worker holds.</summary>
    public RedisKey Active { get; }
    /// <summary>ZSET task id -> due time (unix ms) of failed attempts waiting to be retried.</summary>
    public RedisKey Retry { get; }
    /// <summary>ZSET task id -> completion time (unix ms) of success records.</summary>
    public RedisKey Succeeded { get; }
    /// <summary>ZSET task id -> failure time (unix ms) of failure records.</summary>
    public RedisKey Failed { get; }
    /// <summary>HASH task id -> envelope JSON, while the task is pending, active, retrying or failed.</summary>
    public RedisKey Tasks { get; }
    /// <summary>HASH task id -> number of attempts started.</summary>
    public RedisKey Attempts { get; }
    /// <summary>HASH task id -> id of the worker holding its lease.</summary>
    public RedisKey Owners { get; }
    /// <summary>HASH task id -> success record JSON.</summary>
    public RedisKey Results { get; }
    /// <summary>HASH task id -> error record JSON (last failed attempt, or the failure record).</summary>
    public RedisKey Errors { get; }
    /// <summary>Pub/sub channel published to when the pending list goes from empty to non-empty.</summary>
    public string WakeChannel { get; }
}

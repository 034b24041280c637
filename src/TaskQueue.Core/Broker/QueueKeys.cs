using System;
using System.Collections.Generic;
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
    /// <summary>Through Sentinel: the endpoint of the primary the sentinels named last, the connections' tie-breaker (SentinelFollower).</summary>
    public static readonly RedisKey Primary = Prefix + "primary";

    public static RedisKey Worker(string workerId) => Prefix + "worker:" + workerId;

    /// <summary>A queue name with the characters a SCAN pattern treats specially escaped.</summary>
    public static string EscapePattern(string name) =>
        System.Text.RegularExpressions.Regex.Replace(name, @"([\\\[\]*?])", @"\$1");

    public QueueKeys(string queue)
    {
        ShardRouter.ValidateStored(queue);
        Queue = queue;
        var p = Prefix + "{" + queue + "}:";
        Pending = p + "pending";
        PendingHigh = p + "pending:high";
        PendingLow = p + "pending:low";
        Levels = p + "levels";
        Passed = p + "passed";
        Active = p + "active";
        Retry = p + "retry";
        Scheduled = p + "scheduled";
        Schedules = p + "schedules";
        ScheduleDue = p + "schedule-due";
        ScheduleRuns = p + "schedule-runs";
        Succeeded = p + "succeeded";
        Failed = p + "failed";
        Tasks = p + "tasks";
        Attempts = p + "attempts";
        Owners = p + "owners";
        Results = p + "results";
        Errors = p + "errors";
        Unique = p + "unique";
        Recoveries = p + "recoveries";
        Canceled = p + "canceled";
        Totals = p + "totals";
        Shards = p + "shards";
        Waiting = p + "waiting";
        Dependents = p + "dependents";
        Settled = p + "settled";
        Remaining = p + "remaining";
        Handover = p + "handover";
        DeadLetters = p + "dead";
        Limits = p + "limits";
        RateState = p + "rate";
        WakeChannel = p + "wake";
        CancelChannel = p + "cancel";
    }

    public string Queue { get; }

    /// <summary>ZSET task id -> time it began to wait for the tasks it depends on (Send-TqTask -DependsOn).</summary>
    public RedisKey Waiting { get; }
    /// <summary>HASH task id -> the tasks that wait for it, one line each: '&lt;queue&gt;\t&lt;id&gt;\t&lt;policy&gt;'.</summary>
    public RedisKey Dependents { get; }
    /// <summary>HASH task id of a waiting task -> the outcomes of its dependencies known so far.</summary>
    public RedisKey Settled { get; }
    /// <summary>HASH task id of a waiting task -> how many of its dependencies have no known outcome yet.</summary>
    public RedisKey Remaining { get; }
    /// <summary>LIST of outcomes recorded here that are still to be handed over to the tasks waiting for them.</summary>
    public RedisKey Handover { get; }
    /// <summary>
    /// LIST of records a worker could not use and set aside (a malformed hand-over line, a schedule that does not read),
    /// newest first, each one JSON line: kind, the record as it was, why, and when; at most <see cref="MaxDeadLetters"/>.
    /// </summary>
    public RedisKey DeadLetters { get; }
    public const int MaxDeadLetters = 1000;

    /// <summary>HASH of flow control: suspended, concurrency, rate and period (Suspend-TqQueue, Set-TqQueue); enforced by fetch.lua.</summary>
    public RedisKey Limits { get; }
    /// <summary>STRING: when the rate limit lets the next task start (unix ms; GCRA's theoretical arrival time).</summary>
    public RedisKey RateState { get; }

    /// <summary>STRING: the number of shards of a sharded queue (absent: one, the queue itself). Kept on shard 0.</summary>
    public RedisKey Shards { get; }

    /// <summary>HASH minute-of-hour -> "s" (succeeded) and "f" (failed) counts, one key per hour; expires after 48 hours.</summary>
    public RedisKey Throughput(DateTimeOffset hour) => Prefix + "{" + Queue + "}:throughput:" + hour.ToUnixTimeSeconds() / 3600;

    /// <summary>
    /// LIST of one task's stream log: what it wrote to its PowerShell streams, one JSON entry each (Model.TaskStreamEntry),
    /// in order, across its attempts. Written while the task runs; expires with the task's records.
    /// </summary>
    public RedisKey Log(string id) => Prefix + "{" + Queue + "}:log:" + id;

    /// <summary>Each key of the queue with the Redis type it must have (for diagnosing a key someone else wrote).</summary>
    public IEnumerable<(RedisKey Key, RedisType Type)> Expected()
    {
        yield return (Pending, RedisType.List);
        yield return (PendingHigh, RedisType.List);
        yield return (PendingLow, RedisType.List);
        yield return (Levels, RedisType.Hash);
        yield return (Passed, RedisType.Hash);
        yield return (Active, RedisType.SortedSet);
        yield return (Retry, RedisType.SortedSet);
        yield return (Scheduled, RedisType.SortedSet);
        yield return (Schedules, RedisType.Hash);
        yield return (ScheduleDue, RedisType.SortedSet);
        yield return (ScheduleRuns, RedisType.Hash);
        yield return (Succeeded, RedisType.SortedSet);
        yield return (Failed, RedisType.SortedSet);
        yield return (Tasks, RedisType.Hash);
        yield return (Attempts, RedisType.Hash);
        yield return (Owners, RedisType.Hash);
        yield return (Results, RedisType.Hash);
        yield return (Errors, RedisType.Hash);
        yield return (Unique, RedisType.Hash);
        yield return (Recoveries, RedisType.Hash);
        yield return (Canceled, RedisType.Set);
        yield return (Totals, RedisType.Hash);
        yield return (Shards, RedisType.String);
        yield return (Waiting, RedisType.SortedSet);
        yield return (Dependents, RedisType.Hash);
        yield return (Settled, RedisType.Hash);
        yield return (Remaining, RedisType.Hash);
        yield return (Handover, RedisType.List);
        yield return (DeadLetters, RedisType.List);
        yield return (Limits, RedisType.Hash);
        yield return (RateState, RedisType.String);
    }

    /// <summary>LIST of pending task ids of priority Normal: enqueued at the head, leased from the tail.</summary>
    public RedisKey Pending { get; }
    /// <summary>LIST of pending task ids of priority High, leased before those of <see cref="Pending"/>.</summary>
    public RedisKey PendingHigh { get; }
    /// <summary>LIST of pending task ids of priority Low, leased after those of <see cref="Pending"/> (aging aside).</summary>
    public RedisKey PendingLow { get; }
    /// <summary>HASH task id -> 'high' or 'low', for the tasks whose priority is not Normal (Scripts/lib/pending.lua).</summary>
    public RedisKey Levels { get; }
    /// <summary>HASH 'normal' and 'low' -> tasks leased from a higher level while that level waited (fetch.lua's aging).</summary>
    public RedisKey Passed { get; }
    /// <summary>The three pending lists in the order they are served.</summary>
    public RedisKey[] PendingLists => new[] { PendingHigh, Pending, PendingLow };
    /// <summary>ZSET task id -> lease deadline (unix ms) of tasks a worker holds.</summary>
    public RedisKey Active { get; }
    /// <summary>ZSET task id -> due time (unix ms) of failed attempts waiting to be retried.</summary>
    public RedisKey Retry { get; }
    /// <summary>ZSET task id -> time (unix ms) a task sent with a delay becomes pending.</summary>
    public RedisKey Scheduled { get; }
    /// <summary>HASH schedule name -> recurring schedule JSON.</summary>
    public RedisKey Schedules { get; }
    /// <summary>ZSET schedule name -> due time (unix ms) of its next occurrence; absent while disabled.</summary>
    public RedisKey ScheduleDue { get; }
    /// <summary>HASH schedule name -> JSON of its last run.</summary>
    public RedisKey ScheduleRuns { get; }
    /// <summary>ZSET task id -> completion time (unix ms) of success records.</summary>
    public RedisKey Succeeded { get; }
    /// <summary>ZSET task id -> failure time (unix ms) of failure records.</summary>
    public RedisKey Failed { get; }
    /// <summary>HASH task id -> envelope JSON, while the task is pending, active, retrying or failed.</summary>
    public RedisKey Tasks { get; }
    /// <summary>HASH task id -> number of attempts that failed and were retried (an attempt's number adds the recoveries and 1).</summary>
    public RedisKey Attempts { get; }
    /// <summary>HASH task id -> id of the worker holding its lease.</summary>
    public RedisKey Owners { get; }
    /// <summary>HASH task id -> success record JSON.</summary>
    public RedisKey Results { get; }
    /// <summary>HASH task id -> error record JSON (last failed attempt, or the failure record).</summary>
    public RedisKey Errors { get; }
    /// <summary>HASH unique key -> id of the live task that holds it (Send-TqTask -UniqueKey).</summary>
    public RedisKey Unique { get; }
    /// <summary>HASH task id -> times its lease ran out while a worker held it (the worker died or hung).</summary>
    public RedisKey Recoveries { get; }
    /// <summary>SET of active task ids whose cancellation was asked (Stop-TqTask).</summary>
    public RedisKey Canceled { get; }
    /// <summary>HASH "succeeded" / "failed" -> tasks that ever ended so in this queue (Prometheus counters; never expires).</summary>
    public RedisKey Totals { get; }
    /// <summary>Pub/sub channel published to when the pending list goes from empty to non-empty.</summary>
    public string WakeChannel { get; }
    /// <summary>Pub/sub channel carrying the id of an active task to stop.</summary>
    public string CancelChannel { get; }
}

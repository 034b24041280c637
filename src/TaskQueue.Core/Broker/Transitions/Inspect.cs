using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>inspect.lua (read only): everything known about one task, atomically. Its keys, arguments and reply.</summary>
internal static class Inspect
{
    public static readonly QueueScript Script = QueueScript.Load("inspect.lua", k => new[] { k.Tasks, k.Attempts, k.Owners, k.Active, k.Retry, k.Succeeded, k.Failed, k.Results, k.Errors, k.Scheduled, k.Recoveries, k.Waiting }, readOnly: true);

    public static RedisValue[] Args(string id) => new RedisValue[] { id };

    /// <summary>{ state, envelope, attempts started, owner, score, record } as a snapshot of the task.</summary>
    public static TaskSnapshot Read(string queue, string id, RedisResult reply)
    {
        var r = (RedisResult[])reply!;
        var state = (string)r[0]! switch
        {
            "succeeded" => TaskState.Succeeded,
            "failed" => TaskState.Failed,
            "active" => TaskState.Active,
            "retrying" => TaskState.Retrying,
            "pending" => TaskState.Pending,
            "scheduled" => TaskState.Scheduled,
            "waiting" => TaskState.Waiting,
            _ => TaskState.Unknown,
        };
        var snapshot = new TaskSnapshot { Id = id, Queue = queue, State = state };
        var envelope = (string?)r[1];
        if (!string.IsNullOrEmpty(envelope))
        {
            try { snapshot.Envelope = TqJson.ReadEnvelope(envelope); }
            catch (MalformedTaskException) { }
        }
        if (int.TryParse((string?)r[2], out var attempts)) snapshot.Attempts = attempts;
        var owner = (string?)r[3];
        if (!string.IsNullOrEmpty(owner)) snapshot.Worker = owner;
        if (double.TryParse((string?)r[4], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var score))
        {
            var at = ClockExtensions.FromUnixMs((long)score);
            switch (state)
            {
                case TaskState.Active: snapshot.LeaseExpiresAt = at; break;
                case TaskState.Retrying:
                case TaskState.Scheduled: snapshot.DueAt = at; break;
                default: snapshot.StateSince = at; break;
            }
        }
        var record = (string?)r[5];
        if (state == TaskState.Succeeded) snapshot.Result = TqJson.ReadResult(record);
        else if (!string.IsNullOrEmpty(record)) snapshot.Error = TqJson.ReadError(record);
        if (state == TaskState.Retrying) snapshot.StateSince = snapshot.Error?.FailedAt;
        if (state == TaskState.Scheduled) snapshot.StateSince = snapshot.Envelope?.EnqueuedAt;
        if (snapshot.Result is { } result)
        {
            snapshot.Attempts = result.Attempts;
            snapshot.Worker = result.Worker;
        }
        else if (snapshot.Error is { } error && state == TaskState.Failed)
        {
            snapshot.Attempts = error.Attempts;
            snapshot.Worker = error.Worker;
        }
        return snapshot;
    }
}

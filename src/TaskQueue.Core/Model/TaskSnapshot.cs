using System;

namespace TaskQueue.Core.Model;

/// <summary>Everything Redis knows about one task at one moment.</summary>
public sealed class TaskSnapshot
{
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public TaskState State { get; set; }
    public TaskEnvelope? Envelope { get; set; }
    public int Attempts { get; set; }
    /// <summary>Worker holding the lease, for active tasks.</summary>
    public string? Worker { get; set; }
    /// <summary>Lease deadline (active), retry due time (retrying) or completion time (succeeded, failed).</summary>
    public DateTimeOffset? StateSince { get; set; }
    public TaskResult? Result { get; set; }
    public TaskError? Error { get; set; }
}

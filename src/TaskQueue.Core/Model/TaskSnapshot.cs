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
    /// <summary>
    /// Since when the task is in its state, always in the past: the completion time (succeeded, failed), the failed
    /// attempt's time (retrying), when it began to wait (waiting), was sent (scheduled); null for active and pending.
    /// </summary>
    public DateTimeOffset? StateSince { get; set; }
    /// <summary>When a scheduled task becomes pending, or a retrying task's next attempt is due.</summary>
    public DateTimeOffset? DueAt { get; set; }
    /// <summary>When an active task's lease runs out unless its worker renews it.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    public TaskResult? Result { get; set; }
    public TaskError? Error { get; set; }
}

using System;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>A failure record with the task it belongs to (null when the envelope could not be read, or was not read for its size).</summary>
public sealed class FailureEntry
{
    public FailureEntry(TaskError error, TaskEnvelope? task, string? taskJson, long taskBytes = 0)
    {
        Error = error;
        Task = task;
        TaskJson = taskJson;
        TaskBytes = taskBytes;
    }

    public TaskError Error { get; }
    public TaskEnvelope? Task { get; }
    public string? TaskJson { get; }
    /// <summary>The stored envelope's length in bytes (0 when there is none).</summary>
    public long TaskBytes { get; }
    /// <summary>Failed (for good), or Retrying: the last attempt failed and another is due at <see cref="NextAttemptAt"/>.</summary>
    public TaskState State { get; init; } = TaskState.Failed;
    /// <summary>When a retrying task's next attempt is due.</summary>
    public DateTimeOffset? NextAttemptAt { get; init; }
}

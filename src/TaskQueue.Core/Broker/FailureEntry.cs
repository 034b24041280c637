using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>A failure record with the task it belongs to (null when the envelope could not be read).</summary>
public sealed class FailureEntry
{
    public FailureEntry(TaskError error, TaskEnvelope? task, string? taskJson)
    {
        Error = error;
        Task = task;
        TaskJson = taskJson;
    }

    public TaskError Error { get; }
    public TaskEnvelope? Task { get; }
    public string? TaskJson { get; }
}

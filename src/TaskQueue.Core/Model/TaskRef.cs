namespace TaskQueue.Core.Model;

/// <summary>A task named by its queue and id (a dependency of another task).</summary>
public sealed class TaskRef
{
    public string Queue { get; set; } = "";
    public string Id { get; set; } = "";

    public override string ToString() => Queue + "/" + Id;
}

/// <summary>How a dependency ended, as the task that waited for it sees it: its success record, or its failure record.</summary>
public sealed class DependencyOutcome
{
    public DependencyOutcome(TaskRef task, TaskResult? result, TaskError? error)
    {
        Task = task;
        Result = result;
        Error = error;
    }

    public TaskRef Task { get; }
    /// <summary>The success record; null when the dependency failed (or its record is gone).</summary>
    public TaskResult? Result { get; }
    /// <summary>The failure record, for a dependency that failed (-OnDependencyFailure Run).</summary>
    public TaskError? Error { get; }
}

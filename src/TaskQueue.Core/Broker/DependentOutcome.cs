using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

public enum DependentStatus
{
    /// <summary>It waits for some of its dependencies.</summary>
    Waiting,
    /// <summary>Every dependency had succeeded already: it is pending.</summary>
    Pending,
    /// <summary>A dependency had failed for good and its policy is Cancel: it is a DependencyFailed failure record.</summary>
    Canceled,
    /// <summary>A task with its id exists: nothing was stored.</summary>
    IdExists,
    /// <summary>A dependency does not exist (never sent, or its record expired): nothing was stored.</summary>
    DependencyNotFound,
}

/// <summary>What happened to a task sent with dependencies.</summary>
public sealed class DependentOutcome
{
    public DependentOutcome(DependentStatus status, TaskRef? missing)
    {
        Status = status;
        Missing = missing;
    }

    public DependentStatus Status { get; }
    /// <summary>The dependency that does not exist (DependencyNotFound).</summary>
    public TaskRef? Missing { get; }
}

using System;
using System.Linq;
using System.Management.Automation;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Records;

/// <summary>A task and its state (Send-TqTask, Get-TqTask, Restart-TqTask).</summary>
public sealed class TaskInfo
{
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public TaskState State { get; set; }
    /// <summary>The command name or the script's first line.</summary>
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public DateTimeOffset? EnqueuedAt { get; set; }
    public int Attempts { get; set; }
    /// <summary>High, Normal or Low (Send-TqTask -Priority).</summary>
    public TaskPriority Priority { get; set; } = TaskPriority.Normal;
    public int MaxAttempts { get; set; }
    public TimeSpan? Timeout { get; set; }
    /// <summary>The worker holding the task (active) or the last one that ran it.</summary>
    public string? Worker { get; set; }
    /// <summary>Since when the task is in its state (never a future time): completion (succeeded, failed), the failed attempt (retrying), sending (scheduled), the start of the wait (waiting).</summary>
    public DateTimeOffset? StateSince { get; set; }
    /// <summary>When a scheduled task becomes pending, or a retrying task's next attempt is due.</summary>
    public DateTimeOffset? DueAt { get; set; }
    /// <summary>When an active task's lease runs out unless its worker renews it.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    public string? ScriptBlock { get; set; }
    public string? Command { get; set; }
    public object?[]? ArgumentList { get; set; }
    public System.Collections.Hashtable? Parameters { get; set; }
    /// <summary>The last error, for retrying and failed tasks.</summary>
    public string? LastError { get; set; }
    /// <summary>The tasks it waits for (Send-TqTask -DependsOn), as '&lt;queue&gt;/&lt;id&gt;'; null when it waits for none.</summary>
    public string[]? DependsOn { get; set; }
    /// <summary>What happens when one of them fails for good: Cancel or Run (null without -DependsOn).</summary>
    public string? OnDependencyFailure { get; set; }

    /// <summary>How the task reads where it is shown as a value (a failure record's Task in a list): name, state, id.</summary>
    public override string ToString() => $"{(Name.Length > 60 ? Name.Substring(0, 57) + "..." : Name)} [{State}] {Id}";

    internal static TaskInfo From(TaskEnvelope envelope, TaskState state)
    {
        var info = new TaskInfo
        {
            Id = envelope.Id,
            Queue = envelope.Queue,
            State = state,
            Name = envelope.Label,
            Kind = envelope.Kind,
            EnqueuedAt = envelope.EnqueuedAt,
            MaxAttempts = envelope.MaxAttempts,
            Priority = TaskPriorities.Parse(envelope.Priority),
            Timeout = envelope.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(envelope.TimeoutMs) : null,
            ScriptBlock = envelope.Script,
            Command = envelope.Command,
        };
        if (state == TaskState.Scheduled)
        {
            info.DueAt = envelope.NotBefore;
            info.StateSince = envelope.EnqueuedAt;
        }
        if (envelope.DependsOn is { Count: > 0 } dependsOn)
        {
            info.DependsOn = dependsOn.Select(d => d.ToString()).ToArray();
            info.OnDependencyFailure = envelope.OnDependencyFailure ?? TaskEnvelope.DependencyPolicies.Cancel;
        }
        if (envelope.Args is { } args && PSJsonReader.ToArgument(args) is object?[] list) info.ArgumentList = list;
        if (envelope.Params is { } ps && PSJsonReader.ToArgument(ps) is System.Collections.Hashtable table) info.Parameters = table;
        return info;
    }

    internal static TaskInfo From(TaskSnapshot snapshot)
    {
        var info = snapshot.Envelope is { } envelope
            ? From(envelope, snapshot.State)
            : new TaskInfo { Id = snapshot.Id, Queue = snapshot.Queue, State = snapshot.State };
        info.Attempts = snapshot.Attempts;
        info.Worker = snapshot.Worker;
        info.StateSince = snapshot.StateSince;
        info.DueAt = snapshot.DueAt ?? info.DueAt;
        info.LeaseExpiresAt = snapshot.LeaseExpiresAt;
        info.LastError = snapshot.Error?.Message;
        if (snapshot.Result is { } result)
        {
            info.Name = result.Label;
            info.EnqueuedAt = result.EnqueuedAt;
            info.ArgumentList ??= PSJsonReader.ArgumentsFromJson(result.Args);
            info.Parameters ??= PSJsonReader.ParametersFromJson(result.Params);
        }
        return info;
    }
}

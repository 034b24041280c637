using System;
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
    public int MaxAttempts { get; set; }
    public TimeSpan? Timeout { get; set; }
    /// <summary>The worker holding the task (active) or the last one that ran it.</summary>
    public string? Worker { get; set; }
    /// <summary>Lease deadline (active), due time (scheduled, retrying) or completion time (succeeded, failed).</summary>
    public DateTimeOffset? StateSince { get; set; }
    public string? ScriptBlock { get; set; }
    public string? Command { get; set; }
    public object?[]? ArgumentList { get; set; }
    public System.Collections.Hashtable? Parameters { get; set; }
    /// <summary>The last error, for retrying and failed tasks.</summary>
    public string? LastError { get; set; }

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
            Timeout = envelope.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(envelope.TimeoutMs) : null,
            ScriptBlock = envelope.Script,
            Command = envelope.Command,
        };
        if (state == TaskState.Scheduled) info.StateSince = envelope.NotBefore;
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
        info.LastError = snapshot.Error?.Message;
        if (snapshot.Result is { } result)
        {
            info.Name = result.Label;
            info.EnqueuedAt = result.EnqueuedAt;
        }
        return info;
    }
}

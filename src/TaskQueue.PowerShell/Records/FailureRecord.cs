using System;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Records;

/// <summary>A task that failed for good, or whose last attempt failed and waits to be retried, with the error and the task itself (Get-TqFailure).</summary>
public sealed class FailureRecord
{
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public string Name { get; set; } = "";
    /// <summary>Failed (for good) or Retrying (the last attempt failed, and another is due at NextAttemptAt).</summary>
    public TaskState State { get; set; } = TaskState.Failed;
    /// <summary>When the next attempt is due, for a retrying task.</summary>
    public DateTimeOffset? NextAttemptAt { get; set; }
    /// <summary>The error message.</summary>
    public string Message { get; set; } = "";
    /// <summary>Exception, NonTerminatingError, ParseError, CommandNotFound, Timeout, MalformedTask or WorkerLost.</summary>
    public string Reason { get; set; } = "";
    /// <summary>True when retrying cannot help (the script does not parse, the command does not exist).</summary>
    public bool Permanent { get; set; }
    public string? ErrorId { get; set; }
    public string? Category { get; set; }
    public string? ExceptionType { get; set; }
    public string? ScriptStackTrace { get; set; }
    public string? Position { get; set; }
    public int Attempts { get; set; }
    public string? Worker { get; set; }
    /// <summary>The name of the worker that ran the attempt (Start-TqWorker -WorkerName; its host by default).</summary>
    public string? WorkerName { get; set; }
    /// <summary>Where the failure came from, as Invoke-Command's results say it: the worker's name.</summary>
    public string? PSComputerName => WorkerName;
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset FailedAt { get; set; }
    public object?[] Output { get; set; } = Array.Empty<object?>();
    /// <summary>The task's -ArgumentList as sent (values under secret names read ***); null when it had none.</summary>
    public object?[]? ArgumentList { get; set; }
    /// <summary>The task's -Parameters as sent (redacted as ArgumentList); null when it had none.</summary>
    public System.Collections.Hashtable? Parameters { get; set; }
    public string[] Warnings { get; set; } = Array.Empty<string>();
    public string[] Information { get; set; } = Array.Empty<string>();
    public string[] Errors { get; set; } = Array.Empty<string>();
    /// <summary>The task as it was sent.</summary>
    public TaskInfo? Task { get; set; }

    internal static FailureRecord From(FailureEntry entry)
    {
        var e = entry.Error;
        return new FailureRecord
        {
            Id = e.Id,
            Queue = e.Queue,
            State = entry.State,
            NextAttemptAt = entry.NextAttemptAt ?? (entry.State == TaskState.Retrying ? e.RetryAt : null),
            Name = entry.Task?.Label ?? "",
            Message = e.Message,
            Reason = e.Reason,
            Permanent = e.Permanent,
            ErrorId = e.ErrorId,
            Category = e.Category,
            ExceptionType = e.ExceptionType,
            ScriptStackTrace = e.ScriptStackTrace,
            Position = e.Position,
            Attempts = e.Attempts,
            Worker = e.Worker,
            WorkerName = e.WorkerName ?? (e.Worker is null ? null : SuccessRecord.WorkerHost(e.Worker)),
            StartedAt = e.StartedAt,
            FailedAt = e.FailedAt,
            Output = PSJsonReader.OutputFromJson(e.Output),
            // Written on the record by workers since 0.3.0; else from the task, which a failure keeps.
            ArgumentList = PSJsonReader.ArgumentsFromJson(e.Args ?? RecordArguments.Of(entry.Task?.Args, out _)),
            Parameters = PSJsonReader.ParametersFromJson(e.Params ?? RecordArguments.Of(entry.Task?.Params, out _)),
            Warnings = e.Warnings?.ToArray() ?? Array.Empty<string>(),
            Information = e.Information?.ToArray() ?? Array.Empty<string>(),
            Errors = e.Errors?.ToArray() ?? Array.Empty<string>(),
            Task = entry.Task is { } task ? TaskInfo.From(task, entry.State) : null,
        };
    }
}

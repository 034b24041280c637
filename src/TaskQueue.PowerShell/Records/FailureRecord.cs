using System;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Records;

/// <summary>A task that failed for good, with the error and the task itself (Get-TqFailure).</summary>
public sealed class FailureRecord
{
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public string Name { get; set; } = "";
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
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset FailedAt { get; set; }
    public object?[] Output { get; set; } = Array.Empty<object?>();
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
            StartedAt = e.StartedAt,
            FailedAt = e.FailedAt,
            Output = PSJsonReader.OutputFromJson(e.Output),
            Warnings = e.Warnings?.ToArray() ?? Array.Empty<string>(),
            Information = e.Information?.ToArray() ?? Array.Empty<string>(),
            Errors = e.Errors?.ToArray() ?? Array.Empty<string>(),
            Task = entry.Task is { } task ? TaskInfo.From(task, TaskState.Failed) : null,
        };
    }
}

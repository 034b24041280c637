using System;
using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Records;

/// <summary>One entry of a task's stream log (Get-TqTaskLog): what the task wrote, to which stream, when, in which attempt.</summary>
public sealed class TaskLogEntry
{
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public int Attempt { get; set; }
    /// <summary>When the task wrote it: the worker's clock, in UTC (the table view shows local time).</summary>
    public DateTimeOffset Time { get; set; }
    /// <summary>Output, Error, Warning, Verbose, Debug, Information or Progress.</summary>
    public string Stream { get; set; } = "";
    public string Message { get; set; } = "";
    /// <summary>Progress only: the activity, its status and percent complete (-1: not given).</summary>
    public string? Activity { get; set; }
    public string? Status { get; set; }
    public int? PercentComplete { get; set; }
    /// <summary>Information written with Write-Host.</summary>
    public bool FromHost { get; set; }

    internal int ActivityId { get; set; }
    /// <summary>Progress only: the activity completed (Write-Progress -Completed).</summary>
    public bool Completed { get; set; }
    internal bool FromRecord { get; set; }

    internal static TaskLogEntry From(string queue, string id, TaskStreamEntry entry) => new()
    {
        Id = id,
        Queue = queue,
        Attempt = entry.Attempt,
        Time = entry.Time,
        Stream = entry.Stream,
        Message = entry.Message,
        Activity = entry.Activity,
        Status = entry.Status,
        PercentComplete = entry.PercentComplete,
        FromHost = entry.Host == true,
        ActivityId = entry.ActivityId ?? 0,
        Completed = entry.Completed == true,
        FromRecord = entry.FromRecord,
    };

    public override string ToString() => $"{Stream}: {Message}";
}

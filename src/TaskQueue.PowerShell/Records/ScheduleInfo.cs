using System;
using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Records;

/// <summary>A recurring schedule with its last and next run (Get-TqSchedule).</summary>
public sealed class ScheduleInfo
{
    public string Name { get; set; } = "";
    public string Queue { get; set; } = "";
    public string Cron { get; set; } = "";
    public string TimeZone { get; set; } = "UTC";
    public bool Enabled { get; set; }
    public string MissedRuns { get; set; } = "";
    /// <summary>The priority of each occurrence's task.</summary>
    public TaskPriority Priority { get; set; } = TaskPriority.Normal;
    /// <summary>Non-terminating errors of each occurrence's task are kept on its record without failing it (-ContinueOnError).</summary>
    public bool ContinueOnError { get; set; }
    /// <summary>The command name or the script's first line.</summary>
    public string Task { get; set; } = "";
    public DateTimeOffset? NextRun { get; set; }
    public DateTimeOffset? LastRun { get; set; }
    public string? LastTaskId { get; set; }
    /// <summary>State of the task the last run sent (Pending, Active, Succeeded, Failed, ...), Skipped, or empty.</summary>
    public string? LastOutcome { get; set; }
    /// <summary>The script each occurrence runs (null for a command).</summary>
    public string? ScriptBlock { get; set; }
    /// <summary>The command each occurrence runs (null for a script).</summary>
    public string? Command { get; set; }
    public object?[]? ArgumentList { get; set; }
    public System.Collections.Hashtable? Parameters { get; set; }
    public int MaxAttempts { get; set; }
    public TimeSpan? Timeout { get; set; }
    /// <summary>The schedule as stored (the cron, its policies and the task each occurrence sends).</summary>
    public ScheduleDefinition? Definition { get; set; }
    /// <summary>
    /// Whether the stored schedule verifies against the keyring Get-TqSchedule was given: Valid, Unsigned, Invalid
    /// (altered, moved, or signed with a key the keyring lacks) or NotChecked (signed; no keyring given).
    /// </summary>
    public string Signature { get; set; } = "NotChecked";
    /// <summary>True when the schedule verifies against the keyring given (Signature is Valid).</summary>
    public bool Verified => Signature == "Valid";

    internal static ScheduleInfo From(ScheduleDefinition schedule, DateTimeOffset? next, ScheduleRun? run, string? lastOutcome) => new()
    {
        Name = schedule.Name,
        Queue = schedule.Queue,
        Cron = schedule.Cron,
        TimeZone = string.IsNullOrEmpty(schedule.TimeZone) ? "UTC" : schedule.TimeZone!,
        Enabled = schedule.Enabled,
        MissedRuns = schedule.MissedRuns,
        Task = schedule.Task.Label,
        Priority = TaskPriorities.Parse(schedule.Task.Priority),
        ContinueOnError = schedule.Task.ContinueOnError,
        NextRun = next,
        LastRun = run?.FiredAt,
        LastTaskId = run?.TaskId,
        LastOutcome = run is null ? null : run.Skipped ? "Skipped" : lastOutcome,
        ScriptBlock = schedule.Task.Script,
        Command = schedule.Task.Command,
        ArgumentList = schedule.Task.Args is { } args ? Serialization.PSJsonReader.ToArgument(args) as object?[] : null,
        Parameters = schedule.Task.Params is { } ps ? Serialization.PSJsonReader.ToArgument(ps) as System.Collections.Hashtable : null,
        MaxAttempts = schedule.Task.MaxAttempts,
        Timeout = schedule.Task.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(schedule.Task.TimeoutMs) : null,
        Definition = schedule,
    };
}

using System;

namespace TaskQueue.Core.Model;

/// <summary>A recurring schedule: a cron expression and the task it sends. Stored as JSON in the queue's schedules hash.</summary>
public sealed class ScheduleDefinition
{
    public int V { get; set; } = 1;
    public string Name { get; set; } = "";
    public string Queue { get; set; } = "";
    /// <summary>Five fields (minute precision) or six (with seconds first).</summary>
    public string Cron { get; set; } = "";
    /// <summary>Time zone id (IANA or Windows); UTC when empty.</summary>
    public string? TimeZone { get; set; }
    public bool Enabled { get; set; } = true;
    /// <summary>What to do with occurrences missed while no worker ran: <see cref="MissedRunPolicy"/>.</summary>
    public string MissedRuns { get; set; } = MissedRunPolicy.RunOnce;
    /// <summary>The task each occurrence sends (its id and times are filled in when it fires).</summary>
    public TaskEnvelope Task { get; set; } = new();
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>The id of the key that signed the schedule; inside the signed bytes.</summary>
    public string? Kid { get; set; }

    /// <summary>How the schedule reads where it is shown as a value: its cron, time zone and task.</summary>
    public override string ToString() =>
        $"{Cron}{(string.IsNullOrEmpty(TimeZone) ? "" : " (" + TimeZone + ")")}: {(Task.Kind == TaskEnvelope.Kinds.Command ? Task.Command : Task.Script?.Trim())}";
}

public static class MissedRunPolicy
{
    /// <summary>Occurrences missed while no worker ran are caught up with one run (the default).</summary>
    public const string RunOnce = "RunOnce";
    /// <summary>Missed occurrences are skipped; the schedule waits for its next one.</summary>
    public const string Skip = "Skip";
}

/// <summary>The last time a schedule fired. Stored as JSON in the queue's schedule-runs hash.</summary>
public sealed class ScheduleRun
{
    /// <summary>The queue and schedule it belongs to: inside the signed bytes of a signed run, so it cannot be moved.</summary>
    public string? Queue { get; set; }
    public string? Name { get; set; }
    public DateTimeOffset DueAt { get; set; }
    public DateTimeOffset FiredAt { get; set; }
    /// <summary>The task it sent; null when the occurrence was skipped.</summary>
    public string? TaskId { get; set; }
    public bool Skipped { get; set; }
}

using System;

namespace TaskQueue.Core.Worker;

/// <summary>
/// Where a worker reports what it does: lines for people (start, drain, hand-back, stop), each task's outcome, and
/// verbose detail, warnings and errors; the cmdlet maps them to its host and streams.
/// </summary>
public interface IWorkerLog
{
    /// <summary>What the worker does as a whole: started, stopping (draining), handed back, stopped.</summary>
    void Info(string message);
    /// <summary>One task's outcome (as <see cref="WorkerOptions.TaskLog"/> chooses which).</summary>
    void Task(TaskLogEntry entry);
    void Verbose(string message);
    void Warning(string message);
    void Error(string message, Exception? exception = null);
}

public sealed class NullWorkerLog : IWorkerLog
{
    public static readonly NullWorkerLog Instance = new();
    public void Info(string message) { }
    public void Task(TaskLogEntry entry) { }
    public void Verbose(string message) { }
    public void Warning(string message) { }
    public void Error(string message, Exception? exception = null) { }
}

/// <summary>Which task outcomes a worker writes a line for (Start-TqWorker -TaskLog).</summary>
public enum TaskLogLevel
{
    /// <summary>None: only the worker's own lines (start, drain, hand-back, stop).</summary>
    None,
    /// <summary>Failed attempts (retried or not) and canceled tasks.</summary>
    Failures,
    /// <summary>Every outcome, successes too.</summary>
    All,
}

/// <summary>One task's outcome as a worker logs it.</summary>
public sealed class TaskLogEntry
{
    public DateTimeOffset Time { get; set; }
    /// <summary>Succeeded, Failed (for good), Retrying (another attempt is due at <see cref="RetryAt"/>) or Canceled.</summary>
    public string Outcome { get; set; } = "";
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public string Name { get; set; } = "";
    public int Attempt { get; set; }
    public TimeSpan Duration { get; set; }
    /// <summary>The failure reason (Exception, Timeout, ...); null for a success.</summary>
    public string? Reason { get; set; }
    public string? Message { get; set; }
    public DateTimeOffset? RetryAt { get; set; }

    /// <summary>The entry as one line of key=value pairs (logfmt): easy to read in a journal and to grep.</summary>
    public override string ToString()
    {
        var line = new System.Text.StringBuilder(160);
        line.Append(Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture))
            .Append(" task ").Append(Outcome.ToLowerInvariant())
            .Append(" id=").Append(Id)
            .Append(" queue=").Append(Queue)
            .Append(" name=").Append(Quote(Name))
            .Append(" attempt=").Append(Attempt)
            .Append(" duration=").Append(Duration.TotalSeconds.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)).Append('s');
        if (Reason is not null) line.Append(" reason=").Append(Reason);
        if (RetryAt is { } at) line.Append(" retry_at=").Append(at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(Message)) line.Append(" error=").Append(Quote(Message!.Length > 300 ? Message.Substring(0, 297) + "..." : Message));
        return line.ToString();
    }

    private static string Quote(string text) =>
        "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\r", "").Replace("\n", " ") + "\"";
}

using System;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Serialization;

namespace TaskQueue.PowerShell.Records;

/// <summary>A task that succeeded, with its output (Get-TqResult).</summary>
public sealed class SuccessRecord
{
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public string Name { get; set; } = "";
    public object?[] Output { get; set; } = Array.Empty<object?>();
    /// <summary>The task's -ArgumentList as sent (values under secret names read ***); null when it had none.</summary>
    public object?[]? ArgumentList { get; set; }
    /// <summary>The task's -Parameters as sent (redacted as ArgumentList); null when it had none.</summary>
    public System.Collections.Hashtable? Parameters { get; set; }
    public int Attempts { get; set; }
    public string Worker { get; set; } = "";
    /// <summary>The name of the worker that ran it (Start-TqWorker -WorkerName; its host by default).</summary>
    public string WorkerName { get; set; } = "";
    /// <summary>Where the result came from, as Invoke-Command's results say it: the worker's name.</summary>
    public string PSComputerName => WorkerName;
    public DateTimeOffset EnqueuedAt { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset CompletedAt { get; set; }
    public TimeSpan Duration { get; set; }
    public string[] Warnings { get; set; } = Array.Empty<string>();
    public string[] Information { get; set; } = Array.Empty<string>();
    /// <summary>Non-terminating errors of a task sent with -ContinueOnError.</summary>
    public string[] Errors { get; set; } = Array.Empty<string>();

    /// <summary>A record of a worker before 0.3.0 has no WorkerName: its worker id starts with the host name (host:pid:random).</summary>
    internal static string WorkerHost(string? workerId) =>
        string.IsNullOrEmpty(workerId) ? "" : workerId!.Split(':')[0];

    internal static SuccessRecord From(TaskResult result) => new()
    {
        Id = result.Id,
        Queue = result.Queue,
        Name = result.Label,
        Output = PSJsonReader.OutputFromJson(result.Output),
        ArgumentList = PSJsonReader.ArgumentsFromJson(result.Args),
        Parameters = PSJsonReader.ParametersFromJson(result.Params),
        Attempts = result.Attempts,
        Worker = result.Worker,
        WorkerName = result.WorkerName ?? WorkerHost(result.Worker),
        EnqueuedAt = result.EnqueuedAt,
        StartedAt = result.StartedAt,
        CompletedAt = result.CompletedAt,
        Duration = result.CompletedAt - result.StartedAt,
        Warnings = result.Warnings?.ToArray() ?? Array.Empty<string>(),
        Information = result.Information?.ToArray() ?? Array.Empty<string>(),
        Errors = result.Errors?.ToArray() ?? Array.Empty<string>(),
    };
}

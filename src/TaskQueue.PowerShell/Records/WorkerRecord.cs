using System;
using System.Linq;
using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Records;

/// <summary>A live worker as it last described itself in Redis (Get-TqWorker).</summary>
public sealed class WorkerRecord
{
    public string Id { get; set; } = "";
    public string Host { get; set; } = "";
    public int ProcessId { get; set; }
    public string[] Queues { get; set; } = Array.Empty<string>();
    public int Concurrency { get; set; }
    /// <summary>Tasks it was running at its last heartbeat.</summary>
    public int Running { get; set; }
    /// <summary>Tasks it processed since it started, at its last heartbeat.</summary>
    public long Processed { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    /// <summary>Its last heartbeat: a worker publishes one every few seconds while it lives.</summary>
    public DateTimeOffset? LastSeen { get; set; }

    internal static WorkerRecord From(WorkerInfo info) => new()
    {
        Id = info.Id,
        Host = info.Host,
        ProcessId = info.ProcessId,
        Queues = info.Queues.ToArray(),
        Concurrency = info.Concurrency,
        Running = info.Running,
        Processed = info.Processed,
        StartedAt = info.StartedAt,
        LastSeen = info.LastSeen,
    };
}

using System;

namespace TaskQueue.Core.Worker;

/// <summary>What a worker did between start and stop.</summary>
public sealed class WorkerSummary
{
    public string WorkerId { get; set; } = "";
    public string[] Queues { get; set; } = Array.Empty<string>();
    public long Processed { get; set; }
    public long Succeeded { get; set; }
    public long Failed { get; set; }
    public long Retried { get; set; }
    /// <summary>Tasks given back to the queue at shutdown.</summary>
    public long HandedBack { get; set; }
    public TimeSpan Duration { get; set; }
}

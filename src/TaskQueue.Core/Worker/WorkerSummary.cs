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
    /// <summary>From start to stop, including opening the runspaces and the shutdown.</summary>
    public TimeSpan Duration { get; set; }
    /// <summary>
    /// From the first fetch that leased a task to the last outcome written (success or failure record, or hand-back);
    /// zero when no task was leased. Processed / ProcessingTime is the worker's throughput.
    /// </summary>
    public TimeSpan ProcessingTime { get; set; }
}

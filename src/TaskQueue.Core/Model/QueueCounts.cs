using System.Collections.Generic;

namespace TaskQueue.Core.Model;

/// <summary>How many tasks of a queue are in each state.</summary>
public class QueueCounts
{
    public string Name { get; set; } = "";
    public long Pending { get; set; }
    public long Scheduled { get; set; }
    /// <summary>Tasks that wait for others (Send-TqTask -DependsOn).</summary>
    public long Waiting { get; set; }
    public long Active { get; set; }
    public long Retrying { get; set; }
    public long Succeeded { get; set; }
    public long Failed { get; set; }
    /// <summary>No worker leases from the queue (Suspend-TqQueue); it still accepts tasks.</summary>
    public bool Suspended { get; set; }
    /// <summary>At most this many of its tasks run at once across all workers (Set-TqQueue -ConcurrencyLimit); null: no limit.</summary>
    public int? ConcurrencyLimit { get; set; }
    /// <summary>At most this many of its tasks start per RatePeriod (Set-TqQueue -RateLimit); null: no limit.</summary>
    public int? RateLimit { get; set; }
    public System.TimeSpan? RatePeriod { get; set; }
    /// <summary>Pending tasks that a limit holds back now: all of them while suspended, at the concurrency limit or before the rate limit's next start.</summary>
    public long HeldBack { get; set; }
    /// <summary>
    /// Times a worker handed a task of the queue back, unrun, because it cannot read the task's envelope version (a newer
    /// sender; docs/PROTOCOL.md "Versions"): a total over the queue's life. Rising while tasks stay Scheduled means no
    /// worker of the fleet is new enough for them.
    /// </summary>
    public long HandedBackForVersion { get; set; }

    /// <summary>The counts by state name, in the order the dashboard and the metrics show them.</summary>
    public IEnumerable<(string State, long Count)> ByState()
    {
        yield return ("pending", Pending);
        yield return ("scheduled", Scheduled);
        yield return ("waiting", Waiting);
        yield return ("active", Active);
        yield return ("retrying", Retrying);
        yield return ("succeeded", Succeeded);
        yield return ("failed", Failed);
    }
}

using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Records;

/// <summary>How many tasks of a queue are in each state (Get-TqQueue): the engine's counts under the name the module's views and help use.</summary>
public sealed class QueueInfo : QueueCounts
{
    /// <summary>How many shards the queue is kept in (1: not sharded; Set-TqQueue -Shards).</summary>
    public int Shards { get; set; } = 1;
    /// <summary>No worker leases from it (Suspend-TqQueue); it still accepts tasks.</summary>
    public bool Suspended { get; set; }
    /// <summary>At most this many of its tasks run at once across all workers (Set-TqQueue -ConcurrencyLimit); null: no limit.</summary>
    public int? ConcurrencyLimit { get; set; }
    /// <summary>At most this many of its tasks start per RatePeriod (Set-TqQueue -RateLimit); null: no limit.</summary>
    public int? RateLimit { get; set; }
    public System.TimeSpan? RatePeriod { get; set; }
    /// <summary>How long a waiting priority level is passed over before it gives the next task (Set-TqQueue -PriorityAging).</summary>
    public System.TimeSpan PriorityAging { get; set; } = Core.Broker.QueueLimits.DefaultPriorityAging;
    /// <summary>Pending tasks that a limit holds back now: all of them while suspended, at the concurrency limit or before the rate limit's next start.</summary>
    public long HeldBack { get; set; }
}

using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Records;

/// <summary>How many tasks of a queue are in each state (Get-TqQueue): the engine's counts under the name the module's views and help use.</summary>
public sealed class QueueInfo : QueueCounts
{
    /// <summary>How many shards the queue is kept in (1: not sharded; Set-TqQueue -Shards).</summary>
    public int Shards { get; set; } = 1;
    /// <summary>How many live workers serve the queue (Get-TqWorker): 0 means its tasks wait until one starts.</summary>
    public int Workers { get; set; }
    /// <summary>The most attempts any task of the queue gets (Set-TqQueue -MaxAttempts); null when the tasks' own MaxAttempts (10 by default) decide.</summary>
    public int? MaxAttempts { get; set; }
    /// <summary>How long a waiting priority level is passed over before it gives the next task (Set-TqQueue -PriorityAging).</summary>
    public System.TimeSpan PriorityAging { get; set; } = Core.Broker.QueueLimits.DefaultPriorityAging;
}

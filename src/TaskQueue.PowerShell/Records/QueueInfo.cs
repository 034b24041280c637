using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Records;

/// <summary>How many tasks of a queue are in each state (Get-TqQueue): the engine's counts under the name the module's views and help use.</summary>
public sealed class QueueInfo : QueueCounts
{
    /// <summary>How many shards the queue is kept in (1: not sharded; Set-TqQueue -Shards).</summary>
    public int Shards { get; set; } = 1;
}

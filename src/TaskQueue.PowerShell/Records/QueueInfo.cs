using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Records;

/// <summary>How many tasks of a queue are in each state (Get-TqQueue).</summary>
public sealed class QueueInfo
{
    public string Name { get; set; } = "";
    public long Pending { get; set; }
    public long Scheduled { get; set; }
    public long Active { get; set; }
    public long Retrying { get; set; }
    public long Succeeded { get; set; }
    public long Failed { get; set; }

    internal static QueueInfo From(QueueCounts counts) => new()
    {
        Name = counts.Name,
        Pending = counts.Pending,
        Scheduled = counts.Scheduled,
        Active = counts.Active,
        Retrying = counts.Retrying,
        Succeeded = counts.Succeeded,
        Failed = counts.Failed,
    };
}

namespace TaskQueue.Core.Model;

public sealed class QueueCounts
{
    public string Name { get; set; } = "";
    public long Pending { get; set; }
    public long Scheduled { get; set; }
    public long Active { get; set; }
    public long Retrying { get; set; }
    public long Succeeded { get; set; }
    public long Failed { get; set; }
}

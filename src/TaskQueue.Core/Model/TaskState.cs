namespace TaskQueue.Core.Model;

public enum TaskState
{
    Unknown,
    Pending,
    Scheduled,
    /// <summary>Waits for the tasks it depends on (Send-TqTask -DependsOn).</summary>
    Waiting,
    Active,
    Retrying,
    Succeeded,
    Failed,
}

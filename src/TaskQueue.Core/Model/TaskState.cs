namespace TaskQueue.Core.Model;

public enum TaskState
{
    Unknown,
    Pending,
    Scheduled,
    Active,
    Retrying,
    Succeeded,
    Failed,
}

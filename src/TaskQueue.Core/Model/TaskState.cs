namespace TaskQueue.Core.Model;

public enum TaskState
{
    Unknown,
    Pending,
    Active,
    Retrying,
    Succeeded,
    Failed,
}

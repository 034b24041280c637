namespace TaskQueue.Core.Model;

/// <summary>
/// The order in which a queue's pending tasks are leased (Send-TqTask -Priority): High before Normal before Low,
/// oldest first within a level. Aging keeps a waiting level from starving: a level whose tasks have waited the
/// queue's aging time while higher levels were leased gives the next one (Scripts/fetch.lua, PROTOCOL.md).
/// </summary>
public enum TaskPriority
{
    Low = 0,
    Normal = 1,
    High = 2,
}

public static class TaskPriorities
{
    /// <summary>The level as the scripts name it: "high", "low", or "" for Normal (which has no entry).</summary>
    public static string Level(TaskPriority? priority) => priority switch
    {
        TaskPriority.High => "high",
        TaskPriority.Low => "low",
        _ => "",
    };

    /// <summary>The priority as an envelope stores it: "High" or "Low", or null for Normal (most tasks, kept out of the JSON).</summary>
    public static string? Stored(TaskPriority priority) => priority == TaskPriority.Normal ? null : priority.ToString();

    /// <summary>The priority an envelope carries (null: Normal); an unknown name reads as Normal.</summary>
    public static TaskPriority Parse(string? name) =>
        name is not null && System.Enum.TryParse<TaskPriority>(name, ignoreCase: true, out var p) ? p : TaskPriority.Normal;
}

using System;
using System.Collections.Generic;

namespace TaskQueue.Core.Broker;

/// <summary>
/// What one fetch leased, and what it saw of the queue: the tasks left in the pending list, and when the first lease
/// of the queue runs out (null when no task is leased).
/// </summary>
internal sealed class FetchReply
{
    public FetchReply(IReadOnlyList<LeasedTask> tasks, long left, DateTimeOffset? firstLeaseEnds)
    {
        Tasks = tasks;
        Left = left;
        FirstLeaseEnds = firstLeaseEnds;
    }

    public IReadOnlyList<LeasedTask> Tasks { get; }
    public long Left { get; }
    public DateTimeOffset? FirstLeaseEnds { get; }
}

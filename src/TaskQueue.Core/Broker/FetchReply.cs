using System;
using System.Collections.Generic;

namespace TaskQueue.Core.Broker;

/// <summary>
/// What one fetch leased, and what it saw of the queue: the tasks left in the pending list, and when the first lease
/// of the queue runs out (null when no task is leased).
/// </summary>
internal sealed class FetchReply
{
    public FetchReply(IReadOnlyList<LeasedTask> tasks, long left, DateTimeOffset? firstLeaseEnds, long hold = -1)
    {
        Tasks = tasks;
        Left = left;
        FirstLeaseEnds = firstLeaseEnds;
        Hold = hold;
    }

    /// <summary>
    /// What holds the queue back (Suspend-TqQueue, Set-TqQueue): -1 nothing; 0 a limit that a message on the wake channel
    /// lifts (suspended, or at the concurrency limit); else when the rate limit lets the next task start (unix ms).
    /// </summary>
    public long Hold { get; }

    public IReadOnlyList<LeasedTask> Tasks { get; }
    public long Left { get; }
    public DateTimeOffset? FirstLeaseEnds { get; }
}

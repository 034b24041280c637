using System;
using System.Collections.Generic;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Scheduling;

namespace TaskQueue.Core.Worker;

/// <summary>
/// What comes due with time, moved to pending by whichever worker looks first: occurrences of recurring schedules
/// (<see cref="ScheduleFirer"/>), retries whose backoff ended, and tasks sent with -Delay or -At.
/// </summary>
internal sealed class DueWork
{
    private readonly RedisBroker _broker;
    private readonly ScheduleFirer _schedules;
    private readonly IReadOnlyList<string> _queues;
    private readonly TimeSpan _pollInterval;

    public DueWork(RedisBroker broker, ScheduleFirer schedules, IReadOnlyList<string> queues, TimeSpan pollInterval)
    {
        _broker = broker;
        _schedules = schedules;
        _queues = queues;
        _pollInterval = pollInterval;
    }

    /// <summary>
    /// Fires due schedule occurrences and moves due retries and delayed tasks to pending, in every queue. Returns when
    /// to look next: after the poll interval, or sooner when a retry or delayed task is due sooner; MinValue when it
    /// moved any (look again at once: there may be more).
    /// </summary>
    public DateTimeOffset MoveDue(DateTimeOffset now)
    {
        var next = now + _pollInterval;
        var movedAny = false;
        foreach (var queue in _queues)
        {
            _schedules.FireDueAsync(queue).GetAwaiter().GetResult();
            var (moved, due) = _broker.PromoteAsync(queue).GetAwaiter().GetResult();
            movedAny |= moved > 0;
            if (due is { } d && d < next) next = d;
        }
        return movedAny ? DateTimeOffset.MinValue : next;
    }
}

using System;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Scheduling;

namespace TaskQueue.Core.Worker;

/// <summary>
/// What comes due with time, moved to pending by whichever worker looks first: occurrences of recurring schedules
/// (<see cref="ScheduleFirer"/>), retries whose backoff ended, and tasks sent with -Delay or -At; and outcomes still
/// to be handed over to tasks that wait for them.
/// </summary>
internal sealed class DueWork
{
    private readonly RedisBroker _broker;
    private readonly ScheduleFirer _schedules;

    public DueWork(RedisBroker broker, ScheduleFirer schedules)
    {
        _broker = broker;
        _schedules = schedules;
    }

    /// <summary>
    /// Fires the queue's due schedule occurrences and moves its due retries and delayed tasks to pending. Returns
    /// whether any task became pending, and when the next one comes due (null: nothing is waiting for a time).
    /// </summary>
    public (bool Moved, DateTimeOffset? Next) MoveDue(string queue)
    {
        // Outcomes a worker recorded but did not hand over to the tasks waiting for them (it died in between).
        _broker.Workflows.HandOverAsync(queue).GetAwaiter().GetResult();
        var fired = _schedules.FireDueAsync(queue).GetAwaiter().GetResult();
        var nextOccurrence = _broker.Schedules.NextScheduleDueAsync(queue).GetAwaiter().GetResult();
        var (moved, nextDue) = _broker.PromoteAsync(queue).GetAwaiter().GetResult();
        var next = nextOccurrence is { } o && (nextDue is null || o < nextDue) ? o : nextDue;
        return (fired > 0 || moved > 0, next);
    }
}

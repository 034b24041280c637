using System;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Scheduling;

/// <summary>
/// Fires the recurring schedules of a queue that are due. Every worker runs it; the fire script lets exactly one
/// of them fire each occurrence, so there is no scheduler process to keep alive.
/// </summary>
public sealed class ScheduleFirer
{
    /// <summary>An occurrence later than this was missed (no worker ran when it was due).</summary>
    public static readonly TimeSpan MissedAfter = TimeSpan.FromMinutes(1);

    private readonly RedisBroker _broker;

    public ScheduleFirer(RedisBroker broker) => _broker = broker;

    /// <summary>Fires what is due in <paramref name="queue"/>; returns how many occurrences this caller fired.</summary>
    public async Task<int> FireDueAsync(string queue)
    {
        var fired = 0;
        foreach (var (name, dueMs) in await _broker.DueSchedulesAsync(queue).ConfigureAwait(false))
        {
            var now = _broker.Clock.UtcNow;
            var dueAt = DateTimeOffset.FromUnixTimeMilliseconds(dueMs);
            var schedule = await _broker.GetScheduleAsync(queue, name).ConfigureAwait(false);
            DateTimeOffset? next = null;
            var skip = true;
            if (schedule is { Enabled: true })
            {
                // A schedule that no longer parses stops here; Register/Set refuse such expressions up front.
                try { next = CronSchedule.Parse(schedule.Cron, schedule.TimeZone).NextAfter(now > dueAt ? now : dueAt); }
                catch (ArgumentException) { next = null; }
                // Missed occurrences: one run to catch up (the default), or none.
                skip = now - dueAt > MissedAfter && schedule.MissedRuns == MissedRunPolicy.Skip;
            }
            var task = skip || schedule is null ? null : Occurrence(schedule, now);
            var run = new ScheduleRun { DueAt = dueAt, FiredAt = now, TaskId = task?.Id, Skipped = task is null };
            if (await _broker.FireAsync(queue, name, dueMs, next, run, task).ConfigureAwait(false) && task is not null) fired++;
        }
        return fired;
    }

    private static TaskEnvelope Occurrence(ScheduleDefinition schedule, DateTimeOffset now)
    {
        var task = TqJson.ReadEnvelope(TqJson.Serialize(schedule.Task));
        task.Id = TaskIds.NewId();
        task.Queue = schedule.Queue;
        task.EnqueuedAt = now;
        task.NotBefore = null;
        return task;
    }
}

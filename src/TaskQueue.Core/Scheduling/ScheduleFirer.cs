using System;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

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
    private readonly SignaturePolicy? _signatures;
    private readonly Action<string> _warn;

    /// <param name="signatures">The worker's: with a keyring, a schedule fires only when it verifies, and its occurrences are signed.</param>
    public ScheduleFirer(RedisBroker broker, SignaturePolicy? signatures = null, Action<string>? warn = null)
    {
        _broker = broker;
        _signatures = signatures;
        _warn = warn ?? (_ => { });
    }

    /// <summary>Fires what is due in <paramref name="queue"/>; returns how many occurrences this caller fired.</summary>
    public async Task<int> FireDueAsync(string queue)
    {
        var fired = 0;
        foreach (var (name, dueMs) in await _broker.Schedules.DueSchedulesAsync(queue).ConfigureAwait(false))
        {
            var now = _broker.Clock.UtcNow;
            var dueAt = DateTimeOffset.FromUnixTimeMilliseconds(dueMs);
            var (schedule, signed) = await ReadAsync(queue, name).ConfigureAwait(false);
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
            if (await _broker.Schedules.FireAsync(queue, name, dueMs, next, run, task, sign: signed).ConfigureAwait(false) && task is not null) fired++;
        }
        return fired;
    }

    /// <summary>
    /// The schedule, checked against the worker's keyring before a byte of it is parsed: one that may not run reads
    /// as none (its occurrence is skipped, with a warning); Signed says its occurrences are signed in turn.
    /// </summary>
    private async Task<(ScheduleDefinition? Schedule, bool Signed)> ReadAsync(string queue, string name)
    {
        var stored = await _broker.Schedules.GetStoredScheduleAsync(queue, name).ConfigureAwait(false);
        if (stored is null) return (null, false);
        var keyId = "";
        var refusal = _signatures?.Refusal(stored, out keyId);
        var schedule = refusal is null ? TqJson.ReadScheduleUtf8(stored) : null;
        if (schedule is not null && keyId.Length > 0 && (schedule.Kid != keyId || schedule.Queue != queue || schedule.Name != name))
        {
            refusal = $"The schedule was signed as '{schedule.Name}' of queue '{schedule.Queue}' (key '{schedule.Kid}') but found as '{name}' of '{queue}' (key '{keyId}').";
            schedule = null;
        }
        if (refusal is not null)
        {
            _broker.Statistics.CountBadSignature(queue);
            _warn($"Schedule '{name}' of queue '{queue}' did not fire: {refusal}");
        }
        return (schedule, keyId.Length > 0);
    }

    private static TaskEnvelope Occurrence(ScheduleDefinition schedule, DateTimeOffset now)
    {
        var task = TqJson.ReadEnvelope(TqJson.Serialize(schedule.Task));
        task.Id = TaskIds.NewId();
        task.Queue = schedule.Queue;
        task.EnqueuedAt = now;
        task.NotBefore = null;
        if (string.IsNullOrEmpty(task.Name)) task.Name = schedule.Name;
        return task;
    }
}

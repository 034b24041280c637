using System;
using System.Collections.Generic;
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

    /// <summary>Most occurrences walked through to find the latest one due (a schedule every second, missed for hours).</summary>
    private const int MaxCatchUpSteps = 100_000;

    // The last occurrence this worker saw fire, per queue and schedule: a bound that no Redis writer can roll back.
    private readonly Dictionary<string, DateTimeOffset> _lastFired = new(StringComparer.Ordinal);

    /// <summary>Fires what is due in <paramref name="queue"/>; returns how many occurrences this caller fired.</summary>
    /// <remarks>
    /// An occurrence fires only when it is one the cron expression gives, after the last one that fired (read from
    /// the signed run record, the schedule's signed creation time and this worker's memory), and the latest one due:
    /// a due time moved in Redis (to now, or back to an occurrence that fired) fires nothing; the due time is put
    /// back on the schedule's next occurrence, with a warning. Several missed occurrences fire once, as the latest.
    /// </remarks>
    public async Task<int> FireDueAsync(string queue)
    {
        var fired = 0;
        foreach (var (name, dueMs) in await _broker.Schedules.DueSchedulesAsync(queue).ConfigureAwait(false))
        {
            try
            {
                if (await FireOneAsync(queue, name, dueMs).ConfigureAwait(false)) fired++;
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or MalformedTaskException or ArgumentException or FormatException
                or NullReferenceException or InvalidOperationException or OverflowException)
            {
                // A schedule no worker can read must not stop the queue: set aside, with one warning.
                var stored = await _broker.Schedules.GetStoredScheduleAsync(queue, name).ConfigureAwait(false);
                await _broker.SetAsideAsync(_broker.Keys(queue), "schedule", stored ?? Array.Empty<byte>(), $"schedule '{name}' cannot be read: {ex.Message}").ConfigureAwait(false);
                await _broker.Schedules.RemoveScheduleAsync(queue, name).ConfigureAwait(false);
            }
        }
        return fired;
    }

    /// <summary>Fires one due schedule, if it may; true when this caller enqueued its occurrence's task.</summary>
    private async Task<bool> FireOneAsync(string queue, string name, long dueMs)
    {
        var fired = false;
        var now = _broker.Clock.UtcNow;
        var dueAt = DateTimeOffset.FromUnixTimeMilliseconds(dueMs);
        var (schedule, signed) = await ReadAsync(queue, name).ConfigureAwait(false);
        if (schedule is not { Enabled: true })
        {
            await _broker.Schedules.FireAsync(queue, name, dueMs, null, new ScheduleRun { DueAt = dueAt, FiredAt = now, Skipped = true }, null, sign: signed).ConfigureAwait(false);
            return false;
        }
        CronSchedule cron;
        // A schedule that no longer parses stops here; Register/Set refuse such expressions up front.
        try { cron = CronSchedule.Parse(schedule.Cron, schedule.TimeZone); }
        catch (ArgumentException)
        {
            await _broker.Schedules.FireAsync(queue, name, dueMs, null, new ScheduleRun { DueAt = dueAt, FiredAt = now, Skipped = true }, null, sign: signed).ConfigureAwait(false);
            return false;
        }
        var lastFired = await LastFiredAsync(queue, name, schedule).ConfigureAwait(false);
        var occurrence = Occurrence(cron, dueAt, now);
        if (occurrence is null || occurrence <= lastFired)
        {
            var resume = cron.NextAfter(now > lastFired ? now : lastFired);
            _warn($"Schedule '{name}' of queue '{queue}' did not fire: its due time {dueAt:u} is not an occurrence of '{schedule.Cron}' after the last one that fired ({lastFired:u}); it was moved in Redis. The next occurrence is {resume:u}.");
            await _broker.Schedules.FireAsync(queue, name, dueMs, resume, null, null, sign: signed).ConfigureAwait(false);
            return false;
        }
        var next = cron.NextAfter(now > occurrence.Value ? now : occurrence.Value);
        // Missed occurrences: one run to catch up (the default), or none.
        var skip = now - dueAt > MissedAfter && schedule.MissedRuns == MissedRunPolicy.Skip;
        var task = skip ? null : Occurrence(schedule, now);
        var run = new ScheduleRun { DueAt = occurrence.Value, FiredAt = now, TaskId = task?.Id, Skipped = task is null };
        if (await _broker.Schedules.FireAsync(queue, name, dueMs, next, run, task, sign: signed).ConfigureAwait(false))
        {
            _lastFired[queue + "\t" + name] = occurrence.Value;
            if (task is not null) fired = true;
        }
        return fired;
    }

    /// <summary>
    /// The occurrence to fire for a due time: the latest occurrence of the cron expression at or before now, when the
    /// due time is itself an occurrence; null when it is not (moved in Redis) or too many were missed to walk.
    /// </summary>
    private static DateTimeOffset? Occurrence(CronSchedule cron, DateTimeOffset dueAt, DateTimeOffset now)
    {
        if (cron.NextAfter(dueAt.AddMilliseconds(-1)) != dueAt) return null;
        var latest = dueAt;
        for (var step = 0; step < MaxCatchUpSteps; step++)
        {
            if (cron.NextAfter(latest) is not { } later || later > now) return latest;
            latest = later;
        }
        return null;
    }

    /// <summary>
    /// The last occurrence that fired, as far as can be trusted: the later of the run record (when it verifies, or
    /// when the worker checks no signatures), the schedule's creation (inside its signed bytes) and this worker's memory.
    /// </summary>
    private async Task<DateTimeOffset> LastFiredAsync(string queue, string name, ScheduleDefinition schedule)
    {
        var last = schedule.CreatedAt;
        if (_lastFired.TryGetValue(queue + "\t" + name, out var remembered) && remembered > last) last = remembered;
        var stored = await _broker.Schedules.GetStoredRunAsync(queue, name).ConfigureAwait(false);
        if (stored is null) return last;
        ScheduleRun? run;
        try { run = TqJson.ReadScheduleRunUtf8(stored); }
        catch (System.Text.Json.JsonException) { return last; }
        if (run is null) return last;
        if (_signatures?.Keyring is { } keyring)
        {
            var check = EnvelopeSignature.Verify(stored, keyring, out _);
            var trusted = check == SignatureCheck.Valid && run.Queue == queue && run.Name == name;
            if (!trusted) return last;
        }
        return run.DueAt > last ? run.DueAt : last;
    }

    /// <summary>
    /// The schedule, checked against the worker's keyring before a byte of it is parsed: one that may not run reads
    /// as none (its occurrence is skipped, with a warning); Signed says its occurrences are signed in turn.
    /// </summary>
    private async Task<(ScheduleDefinition? Schedule, bool Signed)> ReadAsync(string queue, string name)
    {
        var stored = await _broker.Schedules.GetStoredScheduleAsync(queue, name).ConfigureAwait(false);
        if (stored is null) return (null, false);
        ScheduleDefinition? schedule;
        var signed = false;
        string? refusal = null;
        if (_signatures?.Keyring is null) schedule = TqJson.ReadScheduleUtf8(stored);
        else refusal = _signatures.CheckSchedule(stored, queue, name, out schedule, out signed);
        if (refusal is not null)
        {
            _broker.Statistics.CountBadSignature(queue);
            _warn($"Schedule '{name}' of queue '{queue}' did not fire: {refusal}");
        }
        return (schedule, signed);
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

using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;

namespace TaskQueue.Core.Tests;

public sealed class CronScheduleTests
{
    private static DateTimeOffset Utc(int y, int mo, int d, int h, int mi, int s = 0) => new(y, mo, d, h, mi, s, TimeSpan.Zero);

    [Fact]
    public void A_time_skipped_by_the_spring_DST_change_fires_once_right_after_it()
    {
        // Europe/Berlin moves from 02:00 to 03:00 on 2026-03-29; 02:30 does not exist that day.
        var cron = CronSchedule.Parse("30 2 * * *", "Europe/Berlin");
        var next = cron.NextAfter(Utc(2026, 3, 28, 12, 0))!.Value;
        Assert.Equal(Utc(2026, 3, 29, 1, 0), next.ToUniversalTime());
        Assert.Equal(Utc(2026, 3, 30, 0, 30), cron.NextAfter(next)!.Value.ToUniversalTime());
    }

    [Fact]
    public void A_time_repeated_by_the_autumn_DST_change_fires_once()
    {
        // On 2026-10-25 Berlin's 02:30 happens twice (CEST, then CET).
        var cron = CronSchedule.Parse("30 2 * * *", "Europe/Berlin");
        var first = cron.NextAfter(Utc(2026, 10, 24, 12, 0))!.Value;
        Assert.Equal(Utc(2026, 10, 25, 0, 30), first.ToUniversalTime());
        Assert.Equal(Utc(2026, 10, 26, 1, 30), cron.NextAfter(first)!.Value.ToUniversalTime());
    }

    [Fact]
    public void The_31st_skips_months_without_one_and_seconds_are_a_sixth_field()
    {
        var monthly = CronSchedule.Parse("0 0 31 * *", null);
        Assert.Equal(Utc(2026, 3, 31, 0, 0), monthly.NextAfter(Utc(2026, 2, 1, 0, 0)));
        var everyFifteenSeconds = CronSchedule.Parse("*/15 * * * * *", "UTC");
        Assert.Equal(Utc(2026, 1, 1, 0, 0, 15), everyFifteenSeconds.NextAfter(Utc(2026, 1, 1, 0, 0, 1)));
    }

    [Theory]
    [InlineData("61 * * * *")]
    [InlineData("not a cron")]
    [InlineData("")]
    public void A_bad_expression_is_refused_with_a_reason(string cron)
    {
        var ex = Assert.Throws<ArgumentException>(() => CronSchedule.Parse(cron, null));
        Assert.NotEmpty(ex.Message);
    }

    [Fact]
    public void An_unknown_time_zone_is_refused()
    {
        Assert.Throws<ArgumentException>(() => CronSchedule.Parse("* * * * *", "Mars/Olympus_Mons"));
    }
}

[Collection("redis")]
public sealed class ScheduleFirerTests : BrokerTest
{
    public ScheduleFirerTests(RedisFixture redis) : base(redis) { }

    private async Task<ScheduleDefinition> Register(string cron, DateTimeOffset due, string missed = MissedRunPolicy.RunOnce)
    {
        var schedule = new ScheduleDefinition
        {
            // Created before its first due time, as Register-TqSchedule does: an occurrence fires only after it.
            Name = "nightly", Queue = Queue, Cron = cron, MissedRuns = missed, CreatedAt = due.AddHours(-1),
            Task = new TaskEnvelope { Kind = "script", Script = "'report'", Queue = Queue },
        };
        await Broker.Schedules.SaveScheduleAsync(schedule, due);
        return schedule;
    }

    [Fact]
    public async Task Three_workers_firing_at_once_enqueue_one_task_per_occurrence()
    {
        await Register("*/5 * * * *", Clock.UtcNow);
        var firers = Enumerable.Range(0, 3).Select(_ => new ScheduleFirer(new RedisBroker(Redis.Connection, new BrokerOptions(), Clock))).ToList();
        var fired = await Task.WhenAll(firers.Select(f => f.FireDueAsync(Queue)));
        Assert.Equal(1, fired.Sum());
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.Pending));
        var (_, next, run) = Assert.Single(await Broker.Schedules.GetSchedulesAsync(Queue));
        Assert.Equal(Clock.UtcNow.AddMinutes(5), next);
        Assert.False(run!.Skipped);

        // Not due again until the next occurrence.
        Assert.Equal(0, (await Task.WhenAll(firers.Select(f => f.FireDueAsync(Queue)))).Sum());
        Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(1, (await Task.WhenAll(firers.Select(f => f.FireDueAsync(Queue)))).Sum());
        Assert.Equal(2, await Redis.Db.ListLengthAsync(Keys.Pending));
    }

    [Fact]
    public async Task Occurrences_missed_while_no_worker_ran_are_caught_up_once_by_default()
    {
        await Register("* * * * *", Clock.UtcNow.AddHours(-3));
        Assert.Equal(1, await new ScheduleFirer(Broker).FireDueAsync(Queue));
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.Pending));
        var (_, next, _) = Assert.Single(await Broker.Schedules.GetSchedulesAsync(Queue));
        Assert.True(next > Clock.UtcNow);
    }

    [Fact]
    public async Task Missed_occurrences_are_skipped_when_the_schedule_says_so()
    {
        await Register("* * * * *", Clock.UtcNow.AddHours(-3), MissedRunPolicy.Skip);
        Assert.Equal(0, await new ScheduleFirer(Broker).FireDueAsync(Queue));
        Assert.Equal(0, await Redis.Db.ListLengthAsync(Keys.Pending));
        var (_, next, run) = Assert.Single(await Broker.Schedules.GetSchedulesAsync(Queue));
        Assert.True(run!.Skipped);
        Assert.True(next > Clock.UtcNow);
    }

    [Fact]
    public async Task A_due_time_moved_in_Redis_fires_nothing_and_goes_back_on_the_next_occurrence()
    {
        await Register("0 0 1 1 *", new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.Equal(1, await new ScheduleFirer(Broker).FireDueAsync(Queue));
        var next = new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal(next, Assert.Single(await Broker.Schedules.GetSchedulesAsync(Queue)).NextDue);
        // Moved to now (not an occurrence), then back to the occurrence that fired: a new firer, so only Redis tells it.
        foreach (var moved in new[] { Clock.UtcNow, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero) })
        {
            await Redis.Db.SortedSetAddAsync(Keys.ScheduleDue, "nightly", moved.ToUnixTimeMilliseconds());
            Assert.Equal(0, await new ScheduleFirer(Broker).FireDueAsync(Queue));
            Assert.Equal(next, Assert.Single(await Broker.Schedules.GetSchedulesAsync(Queue)).NextDue);
        }
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.Pending));
    }

    [Fact]
    public async Task A_disabled_schedule_does_not_fire()
    {
        var schedule = await Register("* * * * *", Clock.UtcNow);
        schedule.Enabled = false;
        await Broker.Schedules.SaveScheduleAsync(schedule, Clock.UtcNow);
        Assert.Equal(0, await new ScheduleFirer(Broker).FireDueAsync(Queue));
        Assert.Null(Assert.Single(await Broker.Schedules.GetSchedulesAsync(Queue)).NextDue);
    }
}

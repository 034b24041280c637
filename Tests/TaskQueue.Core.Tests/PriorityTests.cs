using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;

namespace TaskQueue.Core.Tests;

/// <summary>Send-TqTask -Priority: the order fetch.lua leases in, the level a task keeps on every way back, and aging.</summary>
[Collection("redis")]
public sealed class PriorityTests : BrokerTest
{
    public PriorityTests(RedisFixture redis) : base(redis) { }

    private async Task<TaskEnvelope> Send(TaskPriority priority, string name)
    {
        var task = NewTask();
        task.Name = name;
        task.Priority = priority == TaskPriority.Normal ? null : priority.ToString();
        Assert.Equal(EnqueueStatus.Stored, (await Broker.EnqueueAsync(Queue, new[] { task }))[0].Status);
        _names[task.Id] = name;
        return task;
    }

    /// <summary>Task id -> the name it was sent with.</summary>
    private readonly Dictionary<string, string> _names = new();

    private async Task<string[]> FetchNames(int max, string worker = "w1")
    {
        var leased = await Broker.FetchAsync(Queue, worker, max, Clock.UtcNow.AddMinutes(5));
        return leased.Select(t => _names[t.Id]).ToArray();
    }

    [Fact]
    public async Task High_goes_before_normal_before_low_and_each_level_is_first_in_first_out()
    {
        foreach (var (p, n) in new[] { (TaskPriority.Low, "l1"), (TaskPriority.Normal, "n1"), (TaskPriority.High, "h1"),
                     (TaskPriority.Low, "l2"), (TaskPriority.Normal, "n2"), (TaskPriority.High, "h2"), (TaskPriority.High, "h3") })
            await Send(p, n);
        // One at a time, and in one batch: the same order.
        Assert.Equal(new[] { "h1", "h2" }, await FetchNames(2));
        Assert.Equal(new[] { "h3", "n1", "n2", "l1", "l2" }, await FetchNames(10));
        Assert.Empty(await FetchNames(10));
    }

    [Fact]
    public async Task A_batch_of_new_high_tasks_is_stored_under_its_level()
    {
        var tasks = Enumerable.Range(0, 50).Select(i =>
        {
            var t = NewTask();
            t.Id = "";
            t.Name = "h" + i;
            t.Priority = "High";
            return t;
        }).ToList();
        await Send(TaskPriority.Normal, "n");
        await Broker.EnqueueAsync(Queue, tasks);
        foreach (var t in tasks) _names[t.Id] = t.Name!;
        Assert.Equal(50, await Redis.Db.ListLengthAsync(Keys.PendingHigh));
        Assert.Equal(51, (await Broker.Reads.CountAsync(Queue)).Pending);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => "h" + i), await FetchNames(50));
    }

    [Fact]
    public async Task A_task_keeps_its_level_through_a_retry_a_recovery_a_hand_back_and_a_restart()
    {
        // Aging aside: the clock moves past lease ends here.
        await Broker.Limits.SetPriorityAgingAsync(Queue, TimeSpan.FromHours(1));
        var high = await Send(TaskPriority.High, "h");
        Assert.Equal(new[] { "h" }, await FetchNames(1));
        await Send(TaskPriority.Normal, "n1");

        // Retry: back through the retry set and promote.
        Assert.True(await Broker.FailAsync("w1", Error(high.Id), Clock.UtcNow));
        Assert.Equal(1, (await Broker.PromoteAsync(Queue)).Moved);
        Assert.Equal(new[] { "h" }, await FetchNames(1));

        // Recovery: its worker died.
        Clock.Advance(TimeSpan.FromMinutes(6));
        Assert.Single(await Broker.RecoverAsync(Queue));
        await Send(TaskPriority.Normal, "n2");
        Assert.Equal(new[] { "h" }, await FetchNames(1, "w2"));

        // Hand-back: its worker stopped.
        Assert.Equal(1, await Broker.HandBackAsync(Queue, "w2", new[] { high.Id }));
        Assert.Equal(new[] { "h" }, await FetchNames(1, "w3"));

        // Restart of the failure record.
        Assert.True(await Broker.FailAsync("w3", Error(high.Id), null));
        Assert.Equal(RequeueOutcome.Requeued, await Broker.RequeueAsync(Queue, high.Id));
        Assert.Equal(new[] { "h", "n1", "n2" }, await FetchNames(3, "w4"));
    }

    [Fact]
    public async Task A_delayed_low_task_becomes_pending_as_low()
    {
        var task = NewTask();
        task.Name = "later";
        task.Priority = "Low";
        task.NotBefore = Clock.UtcNow.AddSeconds(10);
        await Broker.EnqueueAsync(Queue, new[] { task });
        _names[task.Id] = "later";
        await Send(TaskPriority.Normal, "n");
        Clock.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(1, (await Broker.PromoteAsync(Queue)).Moved);
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.PendingLow));
        Assert.Equal(new[] { "n", "later" }, await FetchNames(2));
    }

    [Fact]
    public async Task A_level_passed_over_for_the_aging_time_gives_the_next_task_and_then_waits_again()
    {
        await Broker.Limits.SetPriorityAgingAsync(Queue, TimeSpan.FromSeconds(10));
        await Send(TaskPriority.Low, "l1");
        await Send(TaskPriority.Low, "l2");
        await Send(TaskPriority.Normal, "n1");
        for (var i = 0; i < 20; i++) await Send(TaskPriority.High, "h" + i);

        Assert.Equal(new[] { "h0" }, await FetchNames(1));   // the lower levels start to wait now
        Clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Equal(new[] { "h1", "h2" }, await FetchNames(2));
        Clock.Advance(TimeSpan.FromSeconds(0.1));
        // Both waited 10 s: the lowest first, then normal, then high again, in one batch.
        Assert.Equal(new[] { "l1", "n1", "h3", "h4" }, await FetchNames(4));
        Clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Equal(new[] { "h5" }, await FetchNames(1));
        Clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(new[] { "l2", "h6" }, await FetchNames(2));
        Assert.Equal(0, await Redis.Db.ListLengthAsync(Keys.PendingLow));
    }

    [Fact]
    public async Task Without_an_aging_time_set_a_level_waits_thirty_seconds()
    {
        await Send(TaskPriority.Low, "l");
        for (var i = 0; i < 5; i++) await Send(TaskPriority.High, "h" + i);
        Assert.Equal(new[] { "h0" }, await FetchNames(1));
        Clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(new[] { "h1" }, await FetchNames(1));
        Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(new[] { "l", "h2" }, await FetchNames(2));
        Assert.Equal(TimeSpan.FromSeconds(30), (await Broker.Limits.GetAsync(Queue)).PriorityAging);
    }

    [Fact]
    public async Task A_level_served_in_its_turn_does_not_age()
    {
        await Broker.Limits.SetPriorityAgingAsync(Queue, TimeSpan.FromSeconds(10));
        await Send(TaskPriority.High, "h0");
        await Send(TaskPriority.Low, "l0");
        Assert.Equal(new[] { "h0", "l0" }, await FetchNames(2));
        // The low level was passed over once, then emptied: a new low task later does not jump a new high one.
        Clock.Advance(TimeSpan.FromSeconds(30));
        await Send(TaskPriority.Low, "l1");
        await Send(TaskPriority.High, "h1");
        Assert.Equal(new[] { "h1", "l1" }, await FetchNames(2));
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Passed));
    }

    [Fact]
    public async Task Completing_deleting_and_canceling_leave_no_level_behind()
    {
        var done = await Send(TaskPriority.High, "done");
        var deleted = await Send(TaskPriority.Low, "deleted");
        var canceled = await Send(TaskPriority.High, "canceled");
        var leased = Assert.Single(await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddMinutes(1)));
        Assert.Equal(done.Id, leased.Id);
        Assert.True(await Broker.CompleteAsync("w1", new TaskResult { Id = done.Id, Queue = Queue, Worker = "w1", Attempts = 1, StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow }));
        Assert.Equal(DeleteOutcome.Deleted, await Broker.DeleteAsync(Queue, deleted.Id));
        Assert.Equal(CancelOutcome.Canceled, await Broker.CancelAsync(Queue, canceled.Id, "no longer needed"));
        Assert.Equal(0, (await Broker.Reads.CountAsync(Queue)).Pending);
        // The canceled task keeps its level for a restart; the others leave none.
        Assert.Equal(new[] { canceled.Id }, (await Redis.Db.HashKeysAsync(Keys.Levels)).Select(k => (string)k!));
        Assert.Equal(RequeueOutcome.Requeued, await Broker.RequeueAsync(Queue, canceled.Id));
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.PendingHigh));
    }

    [Fact]
    public async Task A_schedule_of_priority_high_fires_high_tasks()
    {
        var schedule = new ScheduleDefinition
        {
            Name = "urgent", Queue = Queue, Cron = "* * * * *", CreatedAt = Clock.UtcNow.AddMinutes(-1),
            Task = new TaskEnvelope { Kind = "script", Script = "'now'", Queue = Queue, Name = "urgent", Priority = "High" },
        };
        await Broker.Schedules.SaveScheduleAsync(schedule, Clock.UtcNow);
        var normal = await Send(TaskPriority.Normal, "n");
        Assert.Equal(1, await new ScheduleFirer(Broker).FireDueAsync(Queue));
        var leased = await Broker.FetchAsync(Queue, "w1", 2, Clock.UtcNow.AddMinutes(1));
        Assert.Equal(2, leased.Count);
        Assert.NotEqual(normal.Id, leased[0].Id);
        Assert.Equal(normal.Id, leased[1].Id);
    }

    private TaskError Error(string id) => new() { Id = id, Queue = Queue, Message = "boom", FailedAt = Clock.UtcNow };
}

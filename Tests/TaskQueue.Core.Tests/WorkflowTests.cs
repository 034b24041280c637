using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;
using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Tests;

/// <summary>Tasks that wait for others (-DependsOn): the hand-over of an outcome between queues, which may be two slots.</summary>
[Collection("redis")]
public sealed class WorkflowTests : BrokerTest
{
    public WorkflowTests(RedisFixture redis) : base(redis) { }

    private string Other => Queue + "-w";

    private TaskEnvelope Waiting(params TaskEnvelope[] dependencies)
    {
        var task = NewTask();
        task.Queue = Other;
        task.DependsOn = dependencies.Select(d => new TaskRef { Queue = d.Queue, Id = d.Id }).ToList();
        return task;
    }

    private async Task Succeed(TaskEnvelope task)
    {
        Assert.Single(await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30)));
        var result = new TaskResult { Id = task.Id, Queue = Queue, Worker = "w1", Attempts = 1, EnqueuedAt = Clock.UtcNow, StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow, Output = "[1]" };
        Assert.True(await Broker.CompleteAsync("w1", result));
    }

    [Fact]
    public async Task The_last_success_releases_the_waiting_task_once_however_often_it_is_handed_over()
    {
        try
        {
            var a = await EnqueueOne();
            var b = await EnqueueOne();
            var waiting = Waiting(a, b);
            Assert.Equal(DependentStatus.Waiting, (await Broker.Workflows.EnqueueDependentAsync(Other, waiting)).Status);
            await Succeed(a);
            Assert.Equal(TaskState.Waiting, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            // a's success handed over a second time while the task still waits: it still waits for b.
            await Redis.Db.ListRightPushAsync(Broker.Keys(Queue).Handover, $"{Queue}\t{a.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            Assert.Equal(1, await Broker.Workflows.HandOverAsync(Queue));
            Assert.Equal(TaskState.Waiting, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            await Succeed(b);
            Assert.Equal(TaskState.Pending, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            // The same outcome handed over again (a duplicate completion, or a worker that handed it over and died
            // before taking the line off): nothing changes.
            var keys = Broker.Keys(Queue);
            foreach (var dependency in new[] { a, b })
                await Redis.Db.ListRightPushAsync(keys.Handover, $"{Queue}\t{dependency.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            Assert.Equal(2, await Broker.Workflows.HandOverAsync(Queue));
            Assert.Equal(0, await Broker.Workflows.HandOverAsync(Queue));
            Assert.Equal(1, await Redis.Db.ListLengthAsync(Broker.Keys(Other).Pending));
            Assert.Equal(0, await Redis.Db.SortedSetLengthAsync(Broker.Keys(Other).Waiting));
        }
        finally { Redis.DeleteQueue(Other); }
    }

    [Fact]
    public async Task An_outcome_a_dead_worker_recorded_but_did_not_hand_over_is_handed_over_by_the_next_look_at_its_queue()
    {
        try
        {
            var a = await EnqueueOne();
            var waiting = Waiting(a);
            await Broker.Workflows.EnqueueDependentAsync(Other, waiting);
            // What complete.lua leaves when its worker dies before the hand-over: the record, and the line.
            await Redis.Db.ListRightPushAsync(Broker.Keys(Queue).Handover, $"{Queue}\t{a.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            Assert.Equal(TaskState.Waiting, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            new DueWork(Broker, new ScheduleFirer(Broker, null, _ => { })).MoveDue(Queue);
            Assert.Equal(TaskState.Pending, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            Assert.Equal(0, await Redis.Db.ListLengthAsync(Broker.Keys(Queue).Handover));
        }
        finally { Redis.DeleteQueue(Other); }
    }

    [Fact]
    public async Task An_outcome_handed_over_before_the_waiting_task_is_stored_counts_when_it_is()
    {
        try
        {
            var a = await EnqueueOne();
            var waiting = Waiting(a);
            // The dependency ended between the registration (depend.lua) and the store (hold.lua).
            var keys = Broker.Keys(Other);
            await Redis.Db.ListRightPushAsync(Broker.Keys(Queue).Handover, $"{Queue}\t{a.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            await Broker.Workflows.HandOverAsync(Queue);
            Assert.Equal(DependentStatus.Pending, (await Broker.Workflows.EnqueueDependentAsync(Other, waiting)).Status);
            Assert.Equal(1, await Redis.Db.ListLengthAsync(keys.Pending));
        }
        finally { Redis.DeleteQueue(Other); }
    }

    [Fact]
    public async Task A_task_canceled_by_a_failed_dependency_leaves_nothing_once_its_record_is_trimmed_and_a_late_duplicate_leaves_nothing()
    {
        try
        {
            var a = await EnqueueOne(maxAttempts: 1);
            var b = await EnqueueOne();
            var canceled = Waiting(a, b);
            await Broker.Workflows.EnqueueDependentAsync(Other, canceled);
            var released = Waiting(b);
            await Broker.Workflows.EnqueueDependentAsync(Other, released);
            var other = Broker.Keys(Other);

            // a fails for good: the first waiting task is canceled, and keeps what it needs for a retry of a.
            Assert.Single(await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30)));
            Assert.True(await Broker.FailAsync("w1", new TaskError { Id = a.Id, Queue = Queue, Message = "boom", FailedAt = Clock.UtcNow }, null));
            Assert.Equal(TaskState.Failed, (await Broker.Reads.InspectAsync(Other, canceled.Id)).State);
            Assert.True(await Redis.Db.HashExistsAsync(other.Remaining, canceled.Id));

            // b succeeds: the second runs and succeeds; a late duplicate of b's hand-over then finds it ended.
            await Succeed(b);
            Assert.Single(await Broker.FetchAsync(Other, "w1", 1, Clock.UtcNow.AddSeconds(30)));
            Assert.True(await Broker.CompleteAsync("w1", new TaskResult { Id = released.Id, Queue = Other, Worker = "w1", Attempts = 1, StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow }));
            await Redis.Db.ListRightPushAsync(Broker.Keys(Queue).Handover, $"{Queue}\t{b.Id}\ts\t{Other}\t{released.Id}\tCancel");
            Assert.Equal(1, await Broker.Workflows.HandOverAsync(Queue));
            Assert.False(await Redis.Db.HashExistsAsync(other.Settled, released.Id));

            // The canceled task's failure record is trimmed: what it kept for a retry goes with it.
            Clock.Advance(Broker.Options.FailureRetention + TimeSpan.FromMinutes(1));
            Assert.Equal(1, (await Broker.TrimRecordsAsync(Other)).Failures);
            Assert.False(await Redis.Db.HashExistsAsync(other.Remaining, canceled.Id));
            Assert.False(await Redis.Db.HashExistsAsync(other.Settled, canceled.Id));
        }
        finally { Redis.DeleteQueue(Other); }
    }
}

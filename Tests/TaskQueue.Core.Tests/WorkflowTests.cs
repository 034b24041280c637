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
            Assert.Equal(DependentStatus.Waiting, (await Broker.EnqueueDependentAsync(Other, waiting)).Status);
            await Succeed(a);
            Assert.Equal(TaskState.Waiting, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            // a's success handed over a second time while the task still waits: it still waits for b.
            await Redis.Db.ListRightPushAsync(Broker.Keys(Queue).Handover, $"{Queue}\t{a.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            Assert.Equal(1, await Broker.HandOverAsync(Queue));
            Assert.Equal(TaskState.Waiting, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            await Succeed(b);
            Assert.Equal(TaskState.Pending, (await Broker.Reads.InspectAsync(Other, waiting.Id)).State);
            // The same outcome handed over again (a duplicate completion, or a worker that handed it over and died
            // before taking the line off): nothing changes.
            var keys = Broker.Keys(Queue);
            foreach (var dependency in new[] { a, b })
                await Redis.Db.ListRightPushAsync(keys.Handover, $"{Queue}\t{dependency.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            Assert.Equal(2, await Broker.HandOverAsync(Queue));
            Assert.Equal(0, await Broker.HandOverAsync(Queue));
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
            await Broker.EnqueueDependentAsync(Other, waiting);
            // What complete-13 leaves when its worker dies before the hand-over: the record, and the line.
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
            // The dependency ended between the registration (depend-4) and the store (hold-10).
            var keys = Broker.Keys(Other);
            await Redis.Db.ListRightPushAsync(Broker.Keys(Queue).Handover, $"{Queue}\t{a.Id}\ts\t{Other}\t{waiting.Id}\tCancel");
            await Broker.HandOverAsync(Queue);
            Assert.Equal(DependentStatus.Pending, (await Broker.EnqueueDependentAsync(Other, waiting)).Status);
            Assert.Equal(1, await Redis.Db.ListLengthAsync(keys.Pending));
        }
        finally { Redis.DeleteQueue(Other); }
    }
}

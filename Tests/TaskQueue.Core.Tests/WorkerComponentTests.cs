using StackExchange.Redis;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Scheduling;
using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Tests;

/// <summary>The lease book alone: what it holds, what is lost, and the order rules, without Redis or threads of a worker.</summary>
public sealed class LeaseBookTests
{
    private static LeasedTask Task(string id, int recoveries = 0, string queue = "q") => new(queue, id, Array.Empty<byte>(), 1, recoveries);

    [Fact]
    public void A_held_task_not_finishing_is_lost_when_Redis_says_so_and_one_finishing_or_let_go_is_not()
    {
        var book = new LeaseBook();
        var running = Task("a");
        var finishing = Task("b");
        var letGo = Task("c");
        foreach (var t in new[] { running, finishing, letGo }) book.Hold(t);
        book.BeginFinishing(finishing);
        var asked = new[] { running, finishing, letGo }.ToLookup(t => t.Id);
        book.BeginFinishing(letGo);
        book.LetGo(letGo);
        Assert.Equal(new[] { "a" }, book.Lost(asked, new[] { "a", "b", "c" }));
        Assert.Equal(2, book.Count);
    }

    [Fact]
    public void An_outcome_whose_lease_ran_out_is_held_back_only_when_the_worker_holds_the_task_again()
    {
        // The old run's lease ran out at 1,000 (the worker was stopped, or Redis was); the task was recovered and leased
        // back to the same worker until 9,000. The old run's outcome would end the new lease's run: it is not written.
        var book = new LeaseBook();
        var old = Task("a");
        old.LeaseEndsMs = 1_000;
        book.Hold(old);
        Assert.False(book.HasNewerCopy(old, 2_000));
        var again = Task("a");
        again.LeaseEndsMs = 9_000;
        book.Hold(again);
        Assert.True(book.HasNewerCopy(old, 2_000));
        Assert.False(book.HasNewerCopy(old, 500));
        Assert.False(book.HasNewerCopy(again, 2_000));
        // The same id of another queue is another task.
        var elsewhere = Task("b", queue: "q1");
        elsewhere.LeaseEndsMs = 1_000;
        book.Hold(elsewhere);
        book.Hold(Task("b", queue: "q2"));
        Assert.False(book.HasNewerCopy(elsewhere, 2_000));
    }

    [Fact]
    public void A_heartbeat_never_sees_a_task_being_let_go_as_lost()
    {
        // Letting go releases first and ends finishing after: a heartbeat reading the book at any moment sees the task
        // either finishing or not held, never held and not finishing (a lost lease). One thread finishes tasks while
        // another reads the book as a heartbeat does; with the two steps the other way round, it sees lost leases.
        var book = new LeaseBook();
        var seenLost = 0;
        var done = false;
        var current = Task("first");
        book.Hold(current);
        book.BeginFinishing(current);
        var heartbeat = new Thread(() =>
        {
            while (!Volatile.Read(ref done))
            {
                var task = Volatile.Read(ref current);
                // Published only once finishing: from then on, it may never read as lost.
                if (book.Lost(new[] { task }.ToLookup(t => t.Id), new[] { task.Id }).Count > 0) Interlocked.Increment(ref seenLost);
            }
        });
        heartbeat.Start();
        for (var i = 0; i < 200_000; i++)
        {
            var task = Task("t" + i);
            book.Hold(task);
            book.BeginFinishing(task);
            Volatile.Write(ref current, task);
            book.LetGo(task);
        }
        Volatile.Write(ref done, true);
        heartbeat.Join();
        Assert.Equal(0, seenLost);
    }

    [Fact]
    public void A_slot_releases_a_task_only_when_its_outcome_is_not_on_its_way()
    {
        var book = new LeaseBook();
        var done = Task("done");
        var acknowledged = Task("acked");
        book.Hold(done);
        book.Hold(acknowledged);
        book.BeginFinishing(acknowledged);
        book.ReleaseUnlessFinishing(done);
        book.ReleaseUnlessFinishing(acknowledged);
        Assert.False(book.IsHeld(done));
        Assert.True(book.IsHeld(acknowledged), "a task whose success record is on its way stays held (its lease renewed) until written");
    }

    [Fact]
    public void Finish_lets_go_also_when_the_write_throws()
    {
        var book = new LeaseBook();
        var task = Task("a");
        book.Hold(task);
        Assert.Throws<InvalidOperationException>(() => book.Finish<bool>(new[] { task }, () =>
        {
            Assert.True(book.IsFinishing(task));
            throw new InvalidOperationException("unreachable");
        }));
        Assert.False(book.IsHeld(task));
        Assert.False(book.IsFinishing(task));
    }

    [Fact]
    public void A_suspect_is_counted_while_held_and_a_cancel_request_lasts_until_taken_or_released()
    {
        var book = new LeaseBook();
        var suspect = Task("s", recoveries: 2);
        book.Hold(suspect);
        Assert.True(book.HoldsSuspect);
        book.RequestCancel(suspect);
        Assert.Same(suspect, book.Find("q", "s"));
        Assert.Null(book.Find("other", "s"));
        Assert.True(book.IsCancelRequested(suspect));
        Assert.True(book.TakeCancelRequest(suspect));
        Assert.False(book.TakeCancelRequest(suspect));
        book.RequestCancel(suspect);
        book.ReleaseUnlessFinishing(suspect);
        Assert.False(book.HoldsSuspect);
        Assert.False(book.IsCancelRequested(suspect));
    }

    [Fact]
    public void A_suspect_waits_until_it_is_the_only_task_held()
    {
        var book = new LeaseBook();
        var suspect = Task("s", recoveries: 1);
        var others = Enumerable.Range(0, 3).Select(i => Task("o" + i)).ToList();
        foreach (var t in others) book.Hold(t);
        book.Hold(suspect);
        var alone = new ManualResetEventSlim();
        var waiter = new Thread(() => { book.WaitToRunAlone(suspect, () => false); alone.Set(); });
        waiter.Start();
        foreach (var t in others.Take(2)) book.ReleaseUnlessFinishing(t);
        Assert.False(alone.Wait(TimeSpan.FromMilliseconds(300)), "the suspect started while another task was held");
        book.ReleaseUnlessFinishing(others[2]);
        Assert.True(alone.Wait(TimeSpan.FromSeconds(10)));
    }
}

/// <summary>The worker's components one at a time, against Redis: what each writes and reports.</summary>
[Collection("redis")]
public sealed class WorkerComponentTests : BrokerTest
{
    public WorkerComponentTests(RedisFixture redis) : base(redis) { }

    private async Task<LeasedTask[]> Lease(int count, string worker = "w1", TimeSpan? lease = null)
    {
        for (var i = 0; i < count; i++) await EnqueueOne();
        var leased = await Broker.FetchAsync(Queue, worker, count, Clock.UtcNow + (lease ?? TimeSpan.FromSeconds(30)));
        Assert.Equal(count, leased.Count);
        return leased.ToArray();
    }

    private TaskResult ResultOf(LeasedTask task) => new()
    {
        Id = task.Id, Queue = Queue, Worker = "w1", Attempts = 1, EnqueuedAt = Clock.UtcNow, StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow, Output = "[1]",
    };

    [Fact]
    public async Task Acknowledger_writes_success_records_in_one_batch_and_lets_the_tasks_go()
    {
        var tasks = await Lease(5);
        var book = new LeaseBook();
        var counters = new WorkerCounters();
        var written = new ManualResetEventSlim();
        var acknowledger = new Acknowledger(Broker, book, counters, new RecordingLog(), "w1", TimeSpan.FromSeconds(30), written.Set);
        foreach (var t in tasks) { book.Hold(t); book.BeginFinishing(t); }
        acknowledger.Start();
        Assert.True(acknowledger.TryAdd(tasks.Select(t => new Completion(t, ResultOf(t), null)).ToArray()));
        Assert.True(written.Wait(TimeSpan.FromSeconds(10)));
        acknowledger.Stop(TimeSpan.FromSeconds(10));
        Assert.Equal(5, await Redis.Db.SortedSetLengthAsync(Keys.Succeeded));
        Assert.Equal(0, await Redis.Db.SortedSetLengthAsync(Keys.Active));
        Assert.True(book.IsEmpty);
        Assert.Equal(5, counters.CopyTo(new WorkerSummary()).Succeeded);
        Assert.False(acknowledger.TryAdd(Array.Empty<Completion>()), "a stopped acknowledger takes nothing more");
    }

    [Fact]
    public async Task Acknowledger_drops_the_outcome_of_a_task_whose_lease_was_lost_and_says_so()
    {
        var task = (await Lease(1))[0];
        // Another worker took the task over (its lease ran out and it was leased again).
        await Redis.Db.HashSetAsync(Keys.Owners, task.Id, "w2");
        var book = new LeaseBook();
        var log = new RecordingLog();
        var acknowledger = new Acknowledger(Broker, book, new WorkerCounters(), log, "w1", TimeSpan.FromSeconds(30), () => { });
        book.Hold(task);
        var error = new TaskError { Id = task.Id, Queue = Queue, Message = "failed", Permanent = true, FailedAt = Clock.UtcNow };
        Assert.False(acknowledger.WriteFailure(task, error, null, null));
        Assert.Contains(log.Warnings, w => w.Contains("lost its lease") && w.Contains(task.Id));
        Assert.Equal(0, await Redis.Db.SortedSetLengthAsync(Keys.Failed));
        Assert.False(book.IsHeld(task));
    }

    [Fact]
    public async Task Acknowledger_hands_tasks_back_to_the_front_of_the_queue_and_counts_them()
    {
        var tasks = await Lease(3);
        await EnqueueOne();
        var book = new LeaseBook();
        var counters = new WorkerCounters();
        foreach (var t in tasks) book.Hold(t);
        new Acknowledger(Broker, book, counters, new RecordingLog(), "w1", TimeSpan.FromSeconds(30), () => { }).HandBack(Queue, tasks.Take(2).ToList());
        Assert.Equal(2, counters.CopyTo(new WorkerSummary()).HandedBack);
        Assert.Equal(1, await Redis.Db.SortedSetLengthAsync(Keys.Active));
        // Leased from the tail: the handed-back tasks come next, before the one sent after them.
        var next = await Broker.FetchAsync(Queue, "w2", 2, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(tasks.Take(2).Select(t => t.Id).OrderBy(x => x), next.Select(t => t.Id).OrderBy(x => x));
        Assert.True(book.IsHeld(tasks[2]));
        Assert.False(book.IsHeld(tasks[0]));
    }

    [Fact]
    public async Task Heartbeat_renews_held_leases_reports_lost_ones_relays_cancellations_and_publishes_the_worker()
    {
        var tasks = await Lease(3, lease: TimeSpan.FromSeconds(5));
        var book = new LeaseBook();
        foreach (var t in tasks) book.Hold(t);
        // One lost: another worker holds it now. One whose cancellation Stop-TqTask asked.
        await Redis.Db.HashSetAsync(Keys.Owners, tasks[1].Id, "w2");
        await Redis.Db.SetAddAsync(Keys.Canceled, tasks[2].Id);
        var log = new RecordingLog();
        var canceled = new List<(string, string)>();
        var options = new WorkerOptions { LeaseTime = TimeSpan.FromSeconds(60) };
        var info = new WorkerInfo { Id = "w1", Host = "h", Queues = new[] { Queue }, Concurrency = 1, StartedAt = Clock.UtcNow };
        var heartbeat = new Heartbeat(Broker, book, new WorkerCounters(), options, info, log, (q, id) => canceled.Add((q, id)));
        Clock.Advance(TimeSpan.FromSeconds(4));
        try
        {
            await heartbeat.BeatAsync();
            var deadline = await Redis.Db.SortedSetScoreAsync(Keys.Active, tasks[0].Id);
            Assert.Equal((Clock.UtcNow + options.LeaseTime).ToUnixMs(), (long)deadline!.Value);
            Assert.Contains(log.Warnings, w => w.Contains("lost the lease of 1 task") && w.Contains(tasks[1].Id));
            Assert.Equal(new[] { (Queue, tasks[2].Id) }, canceled);
            var workers = await Broker.Workers.GetWorkersAsync();
            Assert.Contains(workers, w => w.Id == "w1" && w.Running == 3);
        }
        finally
        {
            await Broker.Workers.UnregisterWorkerAsync("w1");
        }
    }

    [Fact]
    public async Task Recoverer_returns_only_tasks_whose_lease_ran_out_names_their_worker_and_says_when_the_next_lease_ends()
    {
        var expired = await Lease(2, worker: "dead-worker", lease: TimeSpan.FromSeconds(5));
        var alive = await Lease(1, worker: "live-worker", lease: TimeSpan.FromSeconds(60));
        var log = new RecordingLog();
        var recoverer = new Recoverer(Broker, log);
        var (recovered, next) = recoverer.Recover(Queue);
        Assert.Equal(0, recovered);
        Assert.Equal((Clock.UtcNow + TimeSpan.FromSeconds(5)).ToUnixMs(), next!.Value.ToUnixMs());
        Clock.Advance(TimeSpan.FromSeconds(6));
        (recovered, next) = recoverer.Recover(Queue);
        Assert.Equal(2, recovered);
        // The live worker's lease is the next to end: look again then, not before.
        Assert.Equal((await Redis.Db.SortedSetScoreAsync(Keys.Active, alive[0].Id))!.Value, next!.Value.ToUnixMs());
        Assert.Contains(log.Warnings, w => w.Contains("Recovered 2 task(s)") && w.Contains("dead-worker"));
        Assert.Equal(2, await Redis.Db.ListLengthAsync(Keys.Pending));
        Assert.NotNull(await Redis.Db.SortedSetScoreAsync(Keys.Active, alive[0].Id));
        Assert.All(expired, t => Assert.Null(Redis.Db.SortedSetScore(Keys.Active, t.Id)));
    }

    [Fact]
    public async Task DueWork_moves_due_retries_and_delayed_tasks_and_says_when_to_look_next()
    {
        var due = new DueWork(Broker, new ScheduleFirer(Broker, null, _ => { }));
        var delayed = NewTask();
        delayed.NotBefore = Clock.UtcNow.AddMilliseconds(400);
        await Broker.EnqueueAsync(Queue, new[] { delayed });
        // Nothing due yet: look again when the delayed task is due.
        var (moved, next) = due.MoveDue(Queue);
        Assert.False(moved);
        Assert.Equal(delayed.NotBefore.Value.ToUnixMs(), next!.Value.ToUnixMs());
        Assert.Equal(0, await Redis.Db.ListLengthAsync(Keys.Pending));
        Clock.Advance(TimeSpan.FromMilliseconds(500));
        (moved, next) = due.MoveDue(Queue);
        Assert.True(moved);
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.Pending));
        // Nothing left that waits for a time: no need to look again until told.
        Assert.Null(next);
    }

    [Fact]
    public async Task A_fetch_says_how_many_tasks_are_left_and_when_the_first_lease_of_the_queue_ends()
    {
        await Lease(1, worker: "other", lease: TimeSpan.FromSeconds(7));
        await EnqueueOne();
        await EnqueueOne();
        var first = await Broker.LeaseAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Assert.Single(first.Tasks);
        Assert.Equal(1, first.Left);
        Assert.Equal((Clock.UtcNow + TimeSpan.FromSeconds(7)).ToUnixMs(), first.FirstLeaseEnds!.Value.ToUnixMs());
        var last = await Broker.LeaseAsync(Queue, "w1", 5, Clock.UtcNow.AddSeconds(30));
        Assert.Single(last.Tasks);
        Assert.Equal(0, last.Left);
        Assert.Equal((Clock.UtcNow + TimeSpan.FromSeconds(7)).ToUnixMs(), last.FirstLeaseEnds!.Value.ToUnixMs());
        var none = await Broker.LeaseAsync(Queue, "w2", 5, Clock.UtcNow.AddSeconds(30));
        Assert.Empty(none.Tasks);
        Assert.Equal(0, none.Left);
        Assert.Equal((Clock.UtcNow + TimeSpan.FromSeconds(7)).ToUnixMs(), none.FirstLeaseEnds!.Value.ToUnixMs());
    }
}

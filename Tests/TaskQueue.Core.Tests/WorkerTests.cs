using System.Collections.Concurrent;
using System.Diagnostics;
using StackExchange.Redis;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Tests;

/// <summary>Runs a task by calling a delegate; stands in for the PowerShell executor.</summary>
internal sealed class DelegateExecutor : ITaskExecutor
{
    private readonly Func<TaskEnvelope, int, CancellationToken, ExecutionOutcome> _run;
    public DelegateExecutor(Func<TaskEnvelope, int, CancellationToken, ExecutionOutcome> run) => _run = run;
    public ExecutionOutcome Execute(TaskEnvelope task, int attempt, StreamLog? streams, CancellationToken cancel) => _run(task, attempt, cancel);
    public void Dispose() { }
}

[Collection("redis")]
public sealed class WorkerTests : BrokerTest
{
    public WorkerTests(RedisFixture redis) : base(redis) { }

    private RedisBroker RealTimeBroker => new(Redis.Connection);

    private WorkerOptions Options(bool burst = true) => new()
    {
        Queues = new[] { Queue },
        Concurrency = 2,
        Burst = burst,
        RetryDelay = TimeSpan.Zero,
        DrainTimeout = TimeSpan.FromSeconds(5),
    };

    private static ExecutionOutcome Ok(string json = "[1]") => new() { Succeeded = true, OutputJson = json };

    private async Task<List<string>> Send(int count, int maxAttempts = 3, string script = "x")
    {
        var broker = RealTimeBroker;
        var tasks = Enumerable.Range(0, count).Select(_ => new TaskEnvelope
        {
            Id = Guid.NewGuid().ToString("N"), Queue = Queue, Kind = "script", Script = script, MaxAttempts = maxAttempts, EnqueuedAt = DateTimeOffset.UtcNow,
        }).ToList();
        await broker.EnqueueAsync(Queue, tasks);
        return tasks.Select(t => t.Id).ToList();
    }

    [Fact]
    public async Task Burst_worker_drains_the_queue_and_reports_what_it_did()
    {
        var ids = await Send(50);
        var worker = new TaskWorker(RealTimeBroker, Options(), () => new DelegateExecutor((_, _, _) => Ok()));
        var summary = worker.Run(CancellationToken.None);
        Assert.Equal(50, summary.Processed);
        Assert.Equal(50, summary.Succeeded);
        var counts = await Broker.Reads.CountAsync(Queue);
        Assert.Equal((0, 0, 50L), (counts.Pending, counts.Active, counts.Succeeded));
        var result = Assert.Single(await Broker.Reads.GetResultsAsync(Queue, 1, new[] { ids[0] }));
        Assert.Equal("[1]", result.Output);
    }

    [Fact]
    public async Task Failed_attempts_are_retried_until_max_attempts_then_recorded()
    {
        var ids = await Send(1, maxAttempts: 3);
        var attempts = new ConcurrentBag<int>();
        var worker = new TaskWorker(RealTimeBroker, Options(), () => new DelegateExecutor((_, attempt, _) =>
        {
            attempts.Add(attempt);
            return new ExecutionOutcome { Error = new TaskError { Message = "nope " + attempt } };
        }));
        var summary = worker.Run(CancellationToken.None);
        Assert.Equal(new[] { 1, 2, 3 }, attempts.OrderBy(a => a));
        Assert.Equal((1L, 2L), (summary.Failed, summary.Retried));
        var failure = Assert.Single(await Broker.Reads.GetFailuresAsync(Queue, 10));
        Assert.Equal("nope 3", failure.Error.Message);
        Assert.Equal(3, failure.Error.Attempts);
        Assert.Equal(ids[0], failure.Error.Id);
    }

    [Fact]
    public async Task A_permanent_failure_is_not_retried()
    {
        await Send(1, maxAttempts: 10);
        var runs = 0;
        var worker = new TaskWorker(RealTimeBroker, Options(), () => new DelegateExecutor((_, _, _) =>
        {
            Interlocked.Increment(ref runs);
            return new ExecutionOutcome { Error = new TaskError { Message = "does not parse", Permanent = true, Reason = FailureReasons.ParseError } };
        }));
        worker.Run(CancellationToken.None);
        Assert.Equal(1, runs);
        Assert.Equal(FailureReasons.ParseError, Assert.Single(await Broker.Reads.GetFailuresAsync(Queue, 10)).Error.Reason);
    }

    [Fact]
    public async Task Malformed_envelopes_become_failure_records_and_the_worker_keeps_serving()
    {
        var db = Redis.Db;
        await db.HashSetAsync(Keys.Tasks, "bad-json", "{not json");
        await db.HashSetAsync(Keys.Tasks, "bad-version", "{\"v\":0,\"kind\":\"script\",\"script\":\"1\"}");
        await db.HashSetAsync(Keys.Tasks, "no-script", "{\"v\":1,\"kind\":\"script\"}");
        await db.ListLeftPushAsync(Keys.Pending, new RedisValue[] { "bad-json", "bad-version", "no-script", "no-body" });
        var good = await Send(3);
        var worker = new TaskWorker(RealTimeBroker, Options(), () => new DelegateExecutor((_, _, _) => Ok()));
        var summary = worker.Run(CancellationToken.None);
        Assert.Equal(3, summary.Succeeded);
        var failures = (await Broker.Reads.GetFailuresAsync(Queue, 10)).ToDictionary(f => f.Error.Id, f => f.Error);
        Assert.Equal(4, failures.Count);
        Assert.All(failures.Values, f => Assert.Equal(FailureReasons.MalformedTask, f.Reason));
        Assert.Contains("not valid JSON", failures["bad-json"].Message);
        Assert.Contains("version 0", failures["bad-version"].Message);
        Assert.Contains("no 'script'", failures["no-script"].Message);
        Assert.Contains("no body", failures["no-body"].Message);
    }

    [Fact]
    public async Task A_task_of_a_newer_envelope_version_is_handed_back_for_later_not_failed_counted_and_warned_of_once()
    {
        var db = Redis.Db;
        // What a newer sender writes: version 2, with members this worker has never heard of.
        await db.HashSetAsync(Keys.Tasks, "v2-a", "{\"v\":2,\"kind\":\"future\",\"novel\":[1]}");
        await db.HashSetAsync(Keys.Tasks, "v2-b", "{\"v\":2,\"kind\":\"future\"}");
        await db.ListLeftPushAsync(Keys.Pending, new RedisValue[] { "v2-a", "v2-b" });
        var good = await Send(2);
        var log = new RecordingLog();
        var before = RealTimeBroker.Clock.UtcNow;
        var worker = new TaskWorker(RealTimeBroker, Options(), () => new DelegateExecutor((_, _, _) => Ok()), log);
        var summary = worker.Run(CancellationToken.None);
        Assert.Equal(2, summary.Succeeded);
        Assert.Equal(2, summary.HandedBack);
        // Not failed, not attempted: scheduled a few seconds ahead for a worker that reads version 2.
        Assert.Empty(await Broker.Reads.GetFailuresAsync(Queue, 10));
        Assert.False(await db.HashExistsAsync(Keys.Attempts, "v2-a"));
        foreach (var id in new[] { "v2-a", "v2-b" })
        {
            var due = await db.SortedSetScoreAsync(Keys.Scheduled, id);
            Assert.NotNull(due);
            Assert.InRange(due!.Value, before.ToUnixTimeMilliseconds() + 4000, RealTimeBroker.Clock.UtcNow.ToUnixTimeMilliseconds() + 6000);
        }
        Assert.Equal(0, await db.SortedSetLengthAsync(Keys.Active));
        Assert.Equal(2, (await Broker.Reads.CountAsync(Queue)).HandedBackForVersion);
        Assert.Single(log.Warnings, w => w.Contains("envelope version 2") && w.Contains("handed back"));
    }

    [Fact]
    public async Task An_idle_worker_is_woken_by_an_enqueue_not_by_its_poll()
    {
        var ran = new BlockingCollection<string>();
        var sawTask = false;
        var options = Options(burst: false);
        options.PollInterval = TimeSpan.FromMinutes(1);
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((task, _, _) =>
        {
            sawTask = true;
            ran.Add(task.Id);
            return Ok();
        }));
        // Idle fires only with no task in hand, so once one task ran, the next Idle means "done and waiting".
        var idle = new SemaphoreSlim(0);
        worker.Idle += () => { if (Volatile.Read(ref sawTask)) idle.Release(); };
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => worker.Run(stop.Token));
        try
        {
            // The first task may be found by the worker's first fetch; after it, the worker idles on a 1 min poll.
            var first = await Send(1);
            Assert.True(ran.TryTake(out var id1, TimeSpan.FromSeconds(10)));
            Assert.True(await idle.WaitAsync(TimeSpan.FromSeconds(10)), "the worker never went idle");
            var second = await Send(1);
            Assert.True(ran.TryTake(out var id2, TimeSpan.FromSeconds(10)),
                "the idle worker did not pick the task up within 10 s although its poll interval is 1 min: the wake-up message did not reach it");
            Assert.Equal((first[0], second[0]), (id1, id2));
        }
        finally
        {
            stop.Cancel();
            await running;
        }
    }

    [Fact]
    public async Task Stopping_hands_unstarted_tasks_back_and_lets_running_ones_finish()
    {
        await Send(10);
        using var gate = new ManualResetEventSlim(false);
        var started = new CountdownEvent(2);
        var worker = new TaskWorker(RealTimeBroker, Options(burst: false), () => new DelegateExecutor((_, _, _) =>
        {
            started.Signal();
            gate.Wait();
            return Ok();
        }));
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => worker.Run(stop.Token));
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        // Two running, and a buffer of leased tasks that have not started.
        var leased = (await Broker.Reads.CountAsync(Queue)).Active;
        Assert.True(leased > 2, $"the worker leased {leased} task(s); a buffer beyond the running ones was expected");
        stop.Cancel();
        gate.Set();
        var summary = await running;
        var counts = await Broker.Reads.CountAsync(Queue);
        Assert.Equal(0, counts.Active);
        Assert.Equal(2, counts.Succeeded);
        Assert.Equal(8, counts.Pending);
        Assert.Equal(leased - 2, summary.HandedBack);   // all it had leased but not started
        Assert.Null(await Redis.Db.SortedSetScoreAsync(QueueKeys.Workers, worker.WorkerId));
    }

    /// <summary>Runs a burst worker over the queue and returns the most tasks it held leased at once, sampled from Redis.</summary>
    private async Task<long> MostLeasedAtOnce(int concurrency, Func<ExecutionOutcome> run)
    {
        var options = Options();
        options.Concurrency = concurrency;
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((_, _, _) => run()));
        var running = Task.Run(() => worker.Run(CancellationToken.None));
        long most = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!running.IsCompleted && DateTime.UtcNow < deadline)
            most = Math.Max(most, await Redis.Db.SortedSetLengthAsync(Keys.Active));
        var summary = await running;
        Assert.Equal(0, (await Broker.Reads.CountAsync(Queue)).Pending);
        Assert.Equal(summary.Processed, summary.Succeeded);
        return most;
    }

    [Fact]
    public async Task Slow_tasks_are_not_hoarded_one_buffered_per_slot_at_most()
    {
        await Send(12);
        var most = await MostLeasedAtOnce(2, () => { Thread.Sleep(40); return Ok(); });
        // Per slot: the running task, one buffered, and at most one finished whose record is on its way.
        Assert.InRange(most, 1, 6);
    }

    [Fact]
    public async Task Outcomes_written_while_a_heartbeat_is_on_its_way_are_not_reported_as_lost_leases()
    {
        // A heartbeat every 100 ms against thousands of outcomes a second, half of them failures: a lease the worker
        // gave up itself, a moment before the heartbeat looked, is not a lost lease. The lease itself is long (30 s),
        // so a heartbeat that a loaded machine delays cannot lose a lease for real.
        await Send(30000, maxAttempts: 1);
        var log = new RecordingLog();
        var options = Options();
        options.LeaseTime = TimeSpan.FromSeconds(30);
        options.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
        var n = 0;
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((_, _, _) =>
            Interlocked.Increment(ref n) % 2 == 0 ? Ok() : new ExecutionOutcome { Error = new TaskError { Message = "no", Permanent = true } }), log);
        var summary = worker.Run(CancellationToken.None);
        Assert.Equal(30000, summary.Succeeded + summary.Failed);
        Assert.DoesNotContain(log.Warnings, w => w.Contains("lost the lease"));
    }

    [Fact]
    public async Task Success_records_of_short_tasks_are_written_in_batches_without_being_held_back_long()
    {
        // Tasks of about 0.3 ms on one slot: records go to Redis in batches (of up to 256), but none waits for a
        // full batch. Probes: the tasks run as calls 60, 160, 260 and 360 (the buffer is deep by then); each
        // record must be in Redis within 128 calls (some 40 ms; 64 is usual), well before a batch of 256 would be full
        // (the probe of call 60 would then wait until call 256).
        await Send(500);
        var broker = RealTimeBroker;
        var calls = 0;
        var probes = new Dictionary<int, (string Id, int SeenAt)>();
        var options = Options();
        options.Concurrency = 1;
        var worker = new TaskWorker(broker, options, () => new DelegateExecutor((task, _, _) =>
        {
            var call = ++calls;
            var spin = Stopwatch.StartNew();
            while (spin.Elapsed < TimeSpan.FromMilliseconds(0.3)) { }
            if (call % 100 == 60 && call < 400) probes[call] = (task.Id, -1);
            if (call % 4 == 0)
            {
                foreach (var (at, probe) in probes.Where(p => p.Value.SeenAt < 0 && p.Key < call).ToList())
                {
                    if (broker.Reads.GetOutcomesAsync(Queue, new[] { probe.Id }).GetAwaiter().GetResult()[0] == TaskState.Succeeded)
                        probes[at] = (probe.Id, call);
                }
            }
            return Ok();
        }));
        worker.Run(CancellationToken.None);
        Assert.Equal(4, probes.Count);
        foreach (var (at, probe) in probes)
            Assert.True(probe.SeenAt > at && probe.SeenAt <= at + 128, $"the record of call {at} was seen at call {probe.SeenAt}");
    }

    [Fact]
    public async Task Slots_open_their_runspaces_before_the_first_fetch_and_the_summary_times_the_processing()
    {
        await Send(200);
        var broker = RealTimeBroker;
        var activeWhenOpening = new List<long>();
        var options = Options();
        options.Concurrency = 2;
        var worker = new TaskWorker(broker, options, () =>
        {
            // Nothing may be leased yet: a lease would run down while the runspace opens.
            var active = broker.Reads.CountAsync(Queue).GetAwaiter().GetResult().Active;
            lock (activeWhenOpening) activeWhenOpening.Add(active);
            return new DelegateExecutor((_, _, _) => Ok());
        });
        var summary = worker.Run(CancellationToken.None);
        Assert.Equal(new long[] { 0, 0 }, activeWhenOpening);
        Assert.Equal(200, summary.Succeeded);
        Assert.InRange(summary.ProcessingTime, TimeSpan.FromTicks(1), summary.Duration);
    }

    [Fact]
    public async Task Short_tasks_are_leased_in_deep_batches()
    {
        await Send(2000);
        var most = await MostLeasedAtOnce(1, () => Ok());
        // One slot, and far more than one buffered task: fetches serve dozens of tasks per round trip.
        Assert.True(most > 16, $"at most {most} task(s) were leased at once");
    }

    [Fact]
    public async Task Running_tasks_past_the_drain_deadline_are_interrupted_and_handed_back()
    {
        var ids = await Send(1);
        var started = new ManualResetEventSlim(false);
        var options = Options(burst: false);
        options.Concurrency = 1;
        options.DrainTimeout = TimeSpan.FromMilliseconds(200);
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((_, _, cancel) =>
        {
            started.Set();
            cancel.WaitHandle.WaitOne();
            return new ExecutionOutcome { Interrupted = true };
        }));
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => worker.Run(stop.Token));
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        stop.Cancel();
        await running;
        var snapshot = await Broker.Reads.InspectAsync(Queue, ids[0]);
        Assert.Equal(TaskState.Pending, snapshot.State);
        Assert.Equal(0, snapshot.Attempts);
    }

    [Fact]
    public async Task A_task_that_outlives_the_shutdown_is_left_to_its_lease_and_does_not_crash_the_worker()
    {
        // The task ignores every stop: the worker gives up on it (drain deadline, then 10 s) and returns.
        // When it finally finishes, there is no acknowledger any more: a warning, not an unhandled exception.
        var ids = await Send(1);
        var log = new RecordingLog();
        var started = new ManualResetEventSlim(false);
        var release = new ManualResetEventSlim(false);
        var options = Options(burst: false);
        options.Concurrency = 1;
        options.DrainTimeout = TimeSpan.FromMilliseconds(100);
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((_, _, _) =>
        {
            started.Set();
            release.Wait();
            return Ok();
        }), log);
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => worker.Run(stop.Token));
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        stop.Cancel();
        var summary = await running.WaitAsync(TimeSpan.FromSeconds(30));
        release.Set();
        await WaitUntil(() => Task.FromResult(log.Warnings.Any(w => w.Contains("finished after the worker stopped"))));
        Assert.Equal(0, summary.Succeeded);
        Assert.Equal(TaskState.Active, (await Broker.Reads.InspectAsync(Queue, ids[0])).State);
    }

    [Fact]
    public async Task Tasks_of_a_dead_worker_are_recovered_and_run_by_another_without_counting_as_poison()
    {
        var ids = await Send(3);
        // A worker that leased the tasks and died: nothing renews its leases.
        await RealTimeBroker.FetchAsync(Queue, "dead-worker", 3, DateTimeOffset.UtcNow.AddMilliseconds(300));
        var options = Options();
        var watch = Stopwatch.StartNew();
        var done = new ConcurrentBag<(string Id, int Attempt)>();
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((t, attempt, _) =>
        {
            done.Add((t.Id, attempt));
            return Ok();
        }));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var running = Task.Run(() =>
        {
            // Burst would return at once (nothing pending yet), so run until all three are done.
            options.Burst = false;
            return worker.Run(stop.Token);
        });
        await WaitUntil(() => Task.FromResult(done.Count == 3));
        stop.Cancel();
        await running;
        Assert.Equal(ids.OrderBy(i => i), done.Select(d => d.Id).OrderBy(i => i));
        Assert.All(done, d => Assert.Equal(2, d.Attempt));
        Assert.Equal(3, (await Broker.Reads.CountAsync(Queue)).Succeeded);
    }

    [Fact]
    public async Task A_task_whose_worker_died_under_it_too_often_becomes_a_failure_record()
    {
        var ids = await Send(1, maxAttempts: 10);
        var broker = RealTimeBroker;
        for (var i = 0; i < 3; i++)
        {
            await broker.FetchAsync(Queue, "dying-worker", 1, DateTimeOffset.UtcNow.AddSeconds(-1));
            Assert.Single(await broker.RecoverAsync(Queue));
        }
        var runs = 0;
        var worker = new TaskWorker(broker, Options(), () => new DelegateExecutor((_, _, _) => { runs++; return Ok(); }));
        worker.Run(CancellationToken.None);
        Assert.Equal(0, runs);
        var failure = Assert.Single(await Broker.Reads.GetFailuresAsync(Queue, 10));
        Assert.Equal(FailureReasons.WorkerLost, failure.Error.Reason);
        Assert.Equal(ids[0], failure.Error.Id);
        Assert.Contains("died while running this task 3 time(s)", failure.Error.Message);
    }

    [Fact]
    public async Task A_running_task_canceled_with_Stop_TqTask_stops_and_becomes_a_canceled_failure()
    {
        var ids = await Send(1);
        var started = new ManualResetEventSlim(false);
        var options = Options(burst: false);
        options.Concurrency = 1;
        var worker = new TaskWorker(RealTimeBroker, options, () => new DelegateExecutor((_, _, cancel) =>
        {
            started.Set();
            cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(30));
            return new ExecutionOutcome { Interrupted = true };
        }));
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => worker.Run(stop.Token));
        try
        {
            Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
            Assert.Equal(CancelOutcome.StopRequested, await RealTimeBroker.CancelAsync(Queue, ids[0], "stop"));
            await WaitUntil(async () => (await Broker.Reads.CountAsync(Queue)).Failed == 1);
        }
        finally
        {
            stop.Cancel();
            await running;
        }
        var failure = Assert.Single(await Broker.Reads.GetFailuresAsync(Queue, 10));
        Assert.Equal(FailureReasons.Canceled, failure.Error.Reason);
        Assert.Equal(0, (await Broker.Reads.CountAsync(Queue)).Active);
    }

    [Fact]
    public async Task Queues_are_served_in_priority_order()
    {
        var low = Queue + "-low";
        var broker = RealTimeBroker;
        try
        {
            await broker.EnqueueAsync(low, new[] { new TaskEnvelope { Id = "l1", Queue = low, Kind = "script", Script = "low", EnqueuedAt = DateTimeOffset.UtcNow } });
            await Send(3, script: "high");
            var order = new ConcurrentQueue<string>();
            var options = Options();
            options.Queues = new[] { Queue, low };
            options.Concurrency = 1;
            var worker = new TaskWorker(broker, options, () => new DelegateExecutor((t, _, _) => { order.Enqueue(t.Script!); return Ok(); }));
            worker.Run(CancellationToken.None);
            Assert.Equal(new[] { "high", "high", "high", "low" }, order);
        }
        finally
        {
            Redis.DeleteQueue(low);
        }
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition did not hold within " + seconds + " s.");
            await Task.Delay(20);
        }
    }
}

using System.Globalization;
using StackExchange.Redis;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Tests;

[Collection("redis")]
public sealed class BrokerTests : BrokerTest
{
    public BrokerTests(RedisFixture redis) : base(redis) { }

    [Fact]
    public async Task Enqueue_stores_the_envelope_and_appends_the_id_to_pending()
    {
        var task = await EnqueueOne();
        var db = Redis.Db;
        Assert.Equal(task.Id, (string?)await db.ListGetByIndexAsync(Keys.Pending, 0));
        var stored = TqJson.ReadEnvelope(await db.HashGetAsync(Keys.Tasks, task.Id));
        Assert.Equal(task.Script, stored.Script);
        Assert.True(await db.SetContainsAsync(QueueKeys.Queues, Queue));
    }

    [Fact]
    public async Task Enqueue_refuses_an_id_that_exists_and_stores_the_rest()
    {
        var first = await EnqueueOne();
        var second = NewTask();
        var stored = await Broker.EnqueueAsync(Queue, new[] { first, second });
        Assert.Equal(new[] { EnqueueStatus.IdExists, EnqueueStatus.Stored }, stored.Select(s => s.Status));
        Assert.Equal(2, await Redis.Db.ListLengthAsync(Keys.Pending));
    }

    [Fact]
    public async Task Bulk_enqueue_spans_several_script_calls_in_order()
    {
        var tasks = Enumerable.Range(0, 1001).Select(_ => NewTask()).ToList();
        var stored = await Broker.EnqueueAsync(Queue, tasks);
        Assert.All(stored, s => Assert.Equal(EnqueueStatus.Stored, s.Status));
        var leased = await Broker.FetchAsync(Queue, "w1", 5, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(tasks.Take(5).Select(t => t.Id), leased.Select(l => l.Id));
    }

    [Fact]
    public async Task Tasks_without_an_id_get_new_ids_and_are_stored_in_order_in_transactions_without_the_script()
    {
        var size = Broker.Options.EnqueueBatchSize;
        var tasks = Enumerable.Range(0, 2 * size + size / 4).Select(_ => NewTask()).ToList();
        foreach (var task in tasks) task.Id = "";
        var wake = await Redis.Connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal(Keys.WakeChannel));
        EnqueueOutcome[] stored = [];
        var commands = await CommandsSentDuring(async () => stored = await Broker.EnqueueAsync(Queue, tasks));

        Assert.All(stored, s => Assert.Equal(EnqueueStatus.Stored, s.Status));
        Assert.All(tasks, t => Assert.Matches("^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$", t.Id));
        Assert.Equal(tasks.Count, tasks.Select(t => t.Id).Distinct().Count());
        // Three batches, each one MULTI/EXEC, and no script.
        Assert.Equal(3, commands.Count(c => c == "EXEC"));
        Assert.DoesNotContain(commands, c => c.StartsWith("EVAL", StringComparison.Ordinal));
        var last = tasks[tasks.Count - 1];
        var envelope = TqJson.ReadEnvelope(await Redis.Db.HashGetAsync(Keys.Tasks, last.Id));
        Assert.Equal((last.Id, Queue, last.Script), (envelope.Id, envelope.Queue, envelope.Script));
        // The first batch found the list empty: idle workers are woken once, not per batch.
        var message = await wake.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(size.ToString(CultureInfo.InvariantCulture), (string?)message.Message);
        var leased = new List<LeasedTask>();
        while (leased.Count < tasks.Count)
        {
            var more = await Broker.FetchAsync(Queue, "w1", tasks.Count, Clock.UtcNow.AddSeconds(30));
            Assert.NotEmpty(more);
            leased.AddRange(more);
        }
        Assert.Equal(tasks.Select(t => t.Id), leased.Select(l => l.Id));
        Assert.False(wake.TryRead(out _));
        await wake.UnsubscribeAsync();
    }

    [Fact]
    public async Task A_lone_new_task_goes_through_the_script_which_wakes_workers_within_the_same_call()
    {
        var task = NewTask();
        task.Id = "";
        var commands = await CommandsSentDuring(async () =>
            Assert.Equal(EnqueueStatus.Stored, (await Broker.EnqueueAsync(Queue, new[] { task }))[0].Status));
        // No PUBLISH after the reply: the script published before answering (a round trip sooner for an idle worker).
        Assert.Contains("EVALSHA", commands);
        Assert.DoesNotContain("EXEC", commands);
        Assert.DoesNotContain("PUBLISH", commands);
        Assert.Equal(task.Id, (string?)await Redis.Db.ListGetByIndexAsync(Keys.Pending, 0));
    }

    /// <summary>The commands the client sent while <paramref name="act"/> ran, as its profiler records them (any server).</summary>
    [Fact]
    public async Task A_batch_mixing_new_tasks_with_a_caller_id_or_a_unique_key_is_checked_by_the_script()
    {
        var existing = await EnqueueOne();
        var fresh = NewTask();
        fresh.Id = "";
        var keyed = NewTask();
        keyed.Id = "";
        keyed.UniqueKey = "k";
        var outcomes = await Broker.EnqueueAsync(Queue, new[] { fresh, existing, keyed });
        Assert.Equal(new[] { EnqueueStatus.Stored, EnqueueStatus.IdExists, EnqueueStatus.Stored }, outcomes.Select(o => o.Status));
        Assert.NotEqual("", fresh.Id);
        Assert.Equal(keyed.Id, (string?)await Redis.Db.HashGetAsync(Keys.Unique, "k"));
        var again = NewTask();
        again.Id = "";
        again.UniqueKey = "k";
        var refused = Assert.Single(await Broker.EnqueueAsync(Queue, new[] { again }));
        Assert.Equal((EnqueueStatus.Duplicate, keyed.Id), (refused.Status, refused.ExistingId));
    }

    [Fact]
    public void New_task_ids_are_random_version_4_guids()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => TaskIds.NewId()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Equal(4, Guid.ParseExact(id, "N").ToByteArray()[7] >> 4));
        // Every hex digit shows up in every free position: the bits are random, not a counter.
        for (var position = 0; position < 32; position++)
        {
            if (position is 12 or 16) continue;
            Assert.Equal(16, ids.Select(id => id[position]).Distinct().Count());
        }
    }

    [Fact]
    public async Task Fetch_moves_tasks_atomically_from_pending_to_active_with_a_lease()
    {
        var task = await EnqueueOne();
        var deadline = Clock.UtcNow.AddSeconds(30);
        var leased = Assert.Single(await Broker.FetchAsync(Queue, "w1", 10, deadline));
        Assert.Equal(task.Id, leased.Id);
        Assert.Equal(1, leased.Attempt);
        var db = Redis.Db;
        Assert.Equal(0, await db.ListLengthAsync(Keys.Pending));
        Assert.Equal(deadline.ToUnixTimeMilliseconds(), await db.SortedSetScoreAsync(Keys.Active, task.Id));
        Assert.Equal("w1", (string?)await db.HashGetAsync(Keys.Owners, task.Id));
        Assert.Equal(TaskState.Active, (await Broker.Reads.InspectAsync(Queue, task.Id)).State);
    }

    [Fact]
    public async Task Complete_writes_the_success_record_and_clears_the_task()
    {
        var task = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        var done = await Broker.CompleteAsync("w1", Result(task.Id));
        Assert.True(done);
        var db = Redis.Db;
        Assert.Equal(0, await db.SortedSetLengthAsync(Keys.Active));
        Assert.False(await db.HashExistsAsync(Keys.Tasks, task.Id));
        Assert.False(await db.HashExistsAsync(Keys.Owners, task.Id));
        var snapshot = await Broker.Reads.InspectAsync(Queue, task.Id);
        Assert.Equal(TaskState.Succeeded, snapshot.State);
        Assert.Equal("w1", snapshot.Worker);
    }

    [Fact]
    public async Task A_worker_that_lost_its_lease_cannot_complete_or_fail_the_task()
    {
        var task = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(new[] { (task.Id, "w1") }, await Broker.RecoverAsync(Queue));
        await Broker.FetchAsync(Queue, "w2", 1, Clock.UtcNow.AddSeconds(30));

        Assert.False(await Broker.CompleteAsync("w1", Result(task.Id)));
        Assert.False(await Broker.FailAsync("w1", Error(task.Id), null));
        var snapshot = await Broker.Reads.InspectAsync(Queue, task.Id);
        Assert.Equal(TaskState.Active, snapshot.State);
        Assert.Equal("w2", snapshot.Worker);
        Assert.Equal(2, snapshot.Attempts);
    }

    [Fact]
    public async Task Recover_leaves_live_leases_alone_and_returns_expired_ones_to_the_front()
    {
        var expired = await EnqueueOne();
        var live = await EnqueueOne();
        await Broker.FetchAsync(Queue, "dead", 1, Clock.UtcNow.AddSeconds(10));
        await Broker.FetchAsync(Queue, "alive", 1, Clock.UtcNow.AddSeconds(60));
        var waiting = await EnqueueOne();

        Assert.Empty(await Broker.RecoverAsync(Queue));
        Clock.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(new[] { (expired.Id, "dead") }, await Broker.RecoverAsync(Queue));

        // The recovered task is taken before tasks that were waiting behind it (and alone: it is a suspect now).
        var next = await Broker.FetchAsync(Queue, "w3", 2, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(new[] { expired.Id }, next.Select(t => t.Id));
        Assert.Equal(new[] { waiting.Id }, (await Broker.FetchAsync(Queue, "w3", 2, Clock.UtcNow.AddSeconds(30))).Select(t => t.Id));
        Assert.Equal(TaskState.Active, (await Broker.Reads.InspectAsync(Queue, live.Id)).State);
    }

    [Fact]
    public async Task Extend_renews_only_the_leases_the_worker_holds()
    {
        var mine = await EnqueueOne();
        var theirs = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(10));
        await Broker.FetchAsync(Queue, "w2", 1, Clock.UtcNow.AddSeconds(10));
        var (lost, canceled) = await Broker.ExtendAsync(Queue, "w1", new[] { mine.Id, theirs.Id }, Clock.UtcNow.AddSeconds(100));
        Assert.Equal(new[] { theirs.Id }, lost);
        Assert.Empty(canceled);
        Clock.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(new[] { (theirs.Id, "w2") }, await Broker.RecoverAsync(Queue));
    }

    [Fact]
    public async Task A_failed_attempt_waits_in_retry_until_due_then_becomes_pending()
    {
        var task = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        var due = Clock.UtcNow.AddSeconds(20);
        Assert.True(await Broker.FailAsync("w1", Error(task.Id), due));
        Assert.Equal(TaskState.Retrying, (await Broker.Reads.InspectAsync(Queue, task.Id)).State);

        var (moved, next) = await Broker.PromoteAsync(Queue);
        Assert.Equal(0, moved);
        Assert.Equal(due.ToUnixTimeMilliseconds(), next!.Value.ToUnixTimeMilliseconds());

        Clock.Advance(TimeSpan.FromSeconds(20));
        (moved, next) = await Broker.PromoteAsync(Queue);
        Assert.Equal(1, moved);
        Assert.Null(next);
        var again = Assert.Single(await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30)));
        Assert.Equal(2, again.Attempt);
    }

    [Fact]
    public async Task A_final_failure_becomes_a_failure_record_that_can_be_requeued_with_fresh_attempts()
    {
        var task = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Assert.True(await Broker.FailAsync("w1", Error(task.Id), null));

        var failure = Assert.Single(await Broker.Reads.GetFailuresAsync(Queue, 10));
        Assert.Equal("boom", failure.Error.Message);
        Assert.Equal(task.Script, failure.Task!.Script);

        Assert.Equal(RequeueOutcome.Requeued, await Broker.RequeueAsync(Queue, task.Id));
        Assert.Equal(RequeueOutcome.NotFailed, await Broker.RequeueAsync(Queue, task.Id));
        var snapshot = await Broker.Reads.InspectAsync(Queue, task.Id);
        Assert.Equal(TaskState.Pending, snapshot.State);
        Assert.Equal(0, snapshot.Attempts);
        Assert.Empty(await Broker.Reads.GetFailuresAsync(Queue, 10));
    }

    [Fact]
    public async Task Release_hands_tasks_back_without_counting_the_attempt()
    {
        var task = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(0, await Broker.HandBackAsync(Queue, "other", new[] { task.Id }));
        Assert.Equal(1, await Broker.HandBackAsync(Queue, "w1", new[] { task.Id }));
        var snapshot = await Broker.Reads.InspectAsync(Queue, task.Id);
        Assert.Equal(TaskState.Pending, snapshot.State);
        Assert.Equal(0, snapshot.Attempts);
    }

    [Fact]
    public async Task Success_records_are_capped_by_count_and_age()
    {
        var options = new BrokerOptions { MaxSuccessRecords = 3, SuccessRetention = TimeSpan.FromHours(1) };
        var broker = new RedisBroker(Redis.Connection, options, Clock);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var task = await EnqueueOne();
            await broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
            Assert.True(await broker.CompleteAsync("w1", Result(task.Id)));
            ids.Add(task.Id);
            Clock.Advance(TimeSpan.FromMinutes(1));
        }
        var kept = await broker.Reads.GetResultsAsync(Queue, 100);
        Assert.Equal(ids.Skip(2).Reverse(), kept.Select(r => r.Id));
        Assert.Equal(3, await Redis.Db.HashLengthAsync(Keys.Results));

        Clock.Advance(TimeSpan.FromHours(2));
        var late = await EnqueueOne();
        await broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        await broker.CompleteAsync("w1", Result(late.Id));
        Assert.Equal(new[] { late.Id }, (await broker.Reads.GetResultsAsync(Queue, 100)).Select(r => r.Id));
    }

    [Fact]
    public async Task Failure_records_are_capped_oldest_first()
    {
        var broker = new RedisBroker(Redis.Connection, new BrokerOptions { MaxFailureRecords = 2 }, Clock);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var task = await EnqueueOne();
            await broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
            Assert.True(await broker.FailAsync("w1", Error(task.Id), null));
            ids.Add(task.Id);
            Clock.Advance(TimeSpan.FromSeconds(1));
        }
        var kept = await broker.Reads.GetFailuresAsync(Queue, 100);
        Assert.Equal(new[] { ids[2], ids[1] }, kept.Select(f => f.Error.Id));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Tasks, ids[0]));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Errors, ids[0]));
    }

    [Fact]
    public async Task Records_older_than_their_retention_are_trimmed_also_when_nothing_new_is_recorded()
    {
        var options = new BrokerOptions { SuccessRetention = TimeSpan.FromHours(1), FailureRetention = TimeSpan.FromDays(1) };
        var broker = new RedisBroker(Redis.Connection, options, Clock);
        async Task<string> Finish(bool succeed)
        {
            var task = await EnqueueOne();
            await broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
            Assert.True(succeed ? await broker.CompleteAsync("w1", Result(task.Id)) : await broker.FailAsync("w1", Error(task.Id), null));
            return task.Id;
        }
        var oldFailure = await Finish(false);
        var oldSuccess = await Finish(true);
        Clock.Advance(TimeSpan.FromHours(2));
        var newerFailure = await Finish(false);
        Assert.Equal((1L, 0L), await broker.TrimRecordsAsync(Queue));
        Assert.Equal(2, (await broker.Reads.GetFailuresAsync(Queue, 100)).Count);

        Clock.Advance(TimeSpan.FromHours(23));
        Assert.Equal((0L, 1L), await broker.TrimRecordsAsync(Queue));
        Assert.Equal(new[] { newerFailure }, (await broker.Reads.GetFailuresAsync(Queue, 100)).Select(f => f.Error.Id));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Errors, oldFailure));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Tasks, oldFailure));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Results, oldSuccess));
        Assert.Equal(30, new BrokerOptions().FailureRetention.TotalDays);
    }

    [Fact]
    public async Task Counts_cover_every_state()
    {
        await EnqueueOne();
        var active = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        var counts = await Broker.Reads.CountAsync(Queue);
        Assert.Equal((1, 1, 0, 0, 0), (counts.Pending, counts.Active, counts.Retrying, counts.Succeeded, counts.Failed));
        Assert.Contains(Queue, await Broker.Reads.ListQueuesAsync());
    }

    [Fact]
    public async Task Inspect_of_an_unknown_id_says_unknown()
    {
        Assert.Equal(TaskState.Unknown, (await Broker.Reads.InspectAsync(Queue, "nope")).State);
    }

    [Fact]
    public async Task Scripts_are_reloaded_after_the_server_forgets_them()
    {
        await EnqueueOne();
        // Every server: on a cluster, the one that holds the queue's slot among them.
        foreach (var server in Redis.Connection.GetServers()) await server.ScriptFlushAsync();
        Assert.Single(await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30)));
    }

    [Fact]
    public async Task An_id_sent_twice_in_one_batch_is_stored_once()
    {
        var task = NewTask();
        var again = NewTask();
        again.Id = task.Id;
        var outcomes = await Broker.EnqueueAsync(Queue, new[] { task, again, NewTask() });
        Assert.Equal(new[] { EnqueueStatus.Stored, EnqueueStatus.IdExists, EnqueueStatus.Stored }, outcomes.Select(o => o.Status));
        Assert.Equal(2, await Redis.Db.ListLengthAsync(Keys.Pending));
    }

    [Fact]
    public async Task A_batch_completion_records_the_tasks_still_held_and_skips_the_one_whose_lease_was_lost()
    {
        var tasks = new[] { NewTask(), NewTask(), NewTask() };
        tasks[0].UniqueKey = "a";
        tasks[1].UniqueKey = "b";
        await Broker.EnqueueAsync(Queue, tasks);
        // Leased one by one (oldest first); the middle one with a short lease, which runs out and goes to w2.
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(5));
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(new[] { (tasks[1].Id, "w1") }, await Broker.RecoverAsync(Queue));
        Assert.Equal(tasks[1].Id, Assert.Single(await Broker.FetchAsync(Queue, "w2", 10, Clock.UtcNow.AddSeconds(30))).Id);

        var recorded = await Broker.CompleteAsync("w1", new[]
        {
            (Result(tasks[0].Id), (string?)"a"), (Result(tasks[1].Id), (string?)"b"), (Result(tasks[2].Id), (string?)null),
        });

        Assert.Equal(new[] { true, false, true }, recorded);
        var db = Redis.Db;
        Assert.True(await db.HashExistsAsync(Keys.Results, tasks[0].Id));
        Assert.False(await db.HashExistsAsync(Keys.Results, tasks[1].Id));
        Assert.True(await db.HashExistsAsync(Keys.Results, tasks[2].Id));
        Assert.Equal(2, await db.SortedSetLengthAsync(Keys.Succeeded));
        Assert.False(await db.HashExistsAsync(Keys.Unique, "a"));
        Assert.Equal(tasks[1].Id, (string?)await db.HashGetAsync(Keys.Unique, "b"));
        var lost = await Broker.Reads.InspectAsync(Queue, tasks[1].Id);
        Assert.Equal((TaskState.Active, "w2"), (lost.State, lost.Worker));
        Assert.Equal(TaskState.Succeeded, (await Broker.Reads.InspectAsync(Queue, tasks[2].Id)).State);
    }

    [Fact]
    public async Task A_unique_key_is_held_while_its_task_is_live_and_released_when_it_ends()
    {
        var first = NewTask();
        first.UniqueKey = "nightly-report";
        var second = NewTask();
        second.UniqueKey = "nightly-report";
        var outcomes = await Broker.EnqueueAsync(Queue, new[] { first, second });
        Assert.Equal(EnqueueStatus.Stored, outcomes[0].Status);
        Assert.Equal((EnqueueStatus.Duplicate, first.Id), (outcomes[1].Status, outcomes[1].ExistingId));

        // Still held while active and while retrying.
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(EnqueueStatus.Duplicate, (await Broker.EnqueueAsync(Queue, new[] { Unique("nightly-report") }))[0].Status);
        await Broker.FailAsync("w1", Error(first.Id), Clock.UtcNow.AddSeconds(5), "nightly-report");
        Assert.Equal(EnqueueStatus.Duplicate, (await Broker.EnqueueAsync(Queue, new[] { Unique("nightly-report") }))[0].Status);

        // Released once it succeeded.
        Clock.Advance(TimeSpan.FromSeconds(5));
        await Broker.PromoteAsync(Queue);
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        Assert.True(await Broker.CompleteAsync("w1", Result(first.Id), "nightly-report"));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Unique, "nightly-report"));
        Assert.Equal(EnqueueStatus.Stored, (await Broker.EnqueueAsync(Queue, new[] { Unique("nightly-report") }))[0].Status);
    }

    [Fact]
    public async Task A_failed_holder_does_not_block_its_unique_key()
    {
        var first = Unique("k");
        await Broker.EnqueueAsync(Queue, new[] { first });
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        await Broker.FailAsync("w1", Error(first.Id), null, "k");
        Assert.Equal(EnqueueStatus.Stored, (await Broker.EnqueueAsync(Queue, new[] { Unique("k") }))[0].Status);
    }

    [Fact]
    public async Task A_task_over_the_size_limit_is_refused_without_touching_Redis()
    {
        var broker = new RedisBroker(Redis.Connection, new BrokerOptions { MaxTaskBytes = 1000 }, Clock);
        var big = NewTask(script: new string('x', 2000));
        var small = NewTask();
        var outcomes = await broker.EnqueueAsync(Queue, new[] { big, small });
        Assert.Equal(EnqueueStatus.TooLarge, outcomes[0].Status);
        Assert.True(outcomes[0].Bytes > 2000);
        Assert.Equal(EnqueueStatus.Stored, outcomes[1].Status);
        Assert.Equal(1, await Redis.Db.ListLengthAsync(Keys.Pending));
    }

    [Fact]
    public async Task Attempt_numbers_count_failed_and_lost_attempts_and_a_lease_itself_writes_no_counter()
    {
        var task = await EnqueueOne();
        async Task<LeasedTask> Lease(string worker) =>
            Assert.Single(await Broker.FetchAsync(Queue, worker, 1, Clock.UtcNow.AddSeconds(30)));
        async Task<int> Started() => (await Broker.Reads.InspectAsync(Queue, task.Id)).Attempts;

        Assert.Equal(1, (await Lease("w1")).Attempt);
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Attempts));
        Assert.Equal(1, await Started());

        // Failed and retried: counted.
        Assert.True(await Broker.FailAsync("w1", Error(task.Id), Clock.UtcNow));
        Assert.Equal(1, await Started());
        Assert.Equal(1, (await Broker.PromoteAsync(Queue)).Moved);
        Assert.Equal(2, (await Lease("w2")).Attempt);
        Assert.Equal(2, await Started());

        // Its worker died (the lease ran out): counted.
        Clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Single(await Broker.RecoverAsync(Queue));
        Assert.Equal(2, await Started());
        Assert.Equal(3, (await Lease("w3")).Attempt);

        // Handed back unstarted at a shutdown: not counted.
        Assert.Equal(1, await Broker.HandBackAsync(Queue, "w3", new[] { task.Id }));
        Assert.Equal(2, await Started());
        Assert.Equal(3, (await Lease("w4")).Attempt);
        Assert.Equal(3, await Started());

        Assert.True(await Broker.CompleteAsync("w4", Result(task.Id)));
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Attempts));
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Recoveries));
    }

    [Fact]
    public async Task Recovery_counts_how_often_a_task_lost_its_worker()
    {
        var task = await EnqueueOne();
        for (var i = 0; i < 2; i++)
        {
            await Broker.FetchAsync(Queue, "w" + i, 1, Clock.UtcNow.AddSeconds(1));
            Clock.Advance(TimeSpan.FromSeconds(2));
            Assert.Single(await Broker.RecoverAsync(Queue));
        }
        var leased = Assert.Single(await Broker.FetchAsync(Queue, "w9", 1, Clock.UtcNow.AddSeconds(30)));
        Assert.Equal((3, 2), (leased.Attempt, leased.Recoveries));
        await Broker.CompleteAsync("w9", Result(task.Id));
        Assert.False(await Redis.Db.HashExistsAsync(Keys.Recoveries, task.Id));
    }

    [Fact]
    public async Task A_delayed_task_waits_in_the_schedule_and_becomes_pending_when_due()
    {
        var task = NewTask();
        task.NotBefore = Clock.UtcNow.AddMinutes(10);
        Assert.Equal(EnqueueStatus.Stored, (await Broker.EnqueueAsync(Queue, new[] { task }))[0].Status);
        Assert.Equal(TaskState.Scheduled, (await Broker.Reads.InspectAsync(Queue, task.Id)).State);
        Assert.Equal(1, (await Broker.Reads.CountAsync(Queue)).Scheduled);
        Assert.Empty(await Broker.FetchAsync(Queue, "w1", 10, Clock.UtcNow.AddSeconds(30)));

        var (moved, next) = await Broker.PromoteAsync(Queue);
        Assert.Equal(0, moved);
        Assert.Equal(task.NotBefore!.Value.ToUnixTimeMilliseconds(), next!.Value.ToUnixTimeMilliseconds());
        Clock.Advance(TimeSpan.FromMinutes(10));
        (moved, _) = await Broker.PromoteAsync(Queue);
        Assert.Equal(1, moved);
        Assert.Equal(task.Id, Assert.Single(await Broker.FetchAsync(Queue, "w1", 10, Clock.UtcNow.AddSeconds(30))).Id);
    }

    [Fact]
    public async Task A_delayed_task_never_becomes_pending_before_its_time_even_within_a_millisecond()
    {
        // Due times are kept in whole milliseconds: rounded up, never down, or the task could start up to 1 ms early.
        var task = NewTask();
        task.NotBefore = Clock.UtcNow.AddMinutes(10).AddTicks(TimeSpan.TicksPerMillisecond / 2);
        await Broker.EnqueueAsync(Queue, new[] { task });
        Clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(0, (await Broker.PromoteAsync(Queue)).Moved);
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, (await Broker.PromoteAsync(Queue)).Moved);
    }

    [Fact]
    public async Task A_scheduled_task_can_be_canceled_and_holds_its_unique_key()
    {
        var task = NewTask();
        task.NotBefore = Clock.UtcNow.AddHours(1);
        task.UniqueKey = "later";
        await Broker.EnqueueAsync(Queue, new[] { task });
        Assert.Equal(EnqueueStatus.Duplicate, (await Broker.EnqueueAsync(Queue, new[] { Unique("later") }))[0].Status);
        Assert.Equal(CancelOutcome.Canceled, await Broker.CancelAsync(Queue, task.Id, "no longer needed"));
        Assert.Equal(TaskState.Failed, (await Broker.Reads.InspectAsync(Queue, task.Id)).State);
        Assert.Equal(0, (await Broker.Reads.CountAsync(Queue)).Scheduled);
    }

    [Fact]
    public async Task Outcomes_tell_finished_from_unfinished_and_unknown_tasks()
    {
        var done = await EnqueueOne();
        var waiting = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));
        await Broker.CompleteAsync("w1", Result(done.Id));
        var states = await Broker.Reads.GetOutcomesAsync(Queue, new[] { done.Id, waiting.Id, "nope" });
        Assert.Equal(new[] { TaskState.Succeeded, TaskState.Pending, TaskState.Unknown }, states);
    }

    [Fact]
    public async Task A_recovered_task_is_leased_alone()
    {
        var suspect = await EnqueueOne();
        await Broker.FetchAsync(Queue, "dead", 1, Clock.UtcNow.AddSeconds(1));
        var fresh = new[] { await EnqueueOne(), await EnqueueOne() };
        Clock.Advance(TimeSpan.FromSeconds(2));
        await Broker.RecoverAsync(Queue);

        var first = await Broker.FetchAsync(Queue, "w1", 10, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(new[] { suspect.Id }, first.Select(t => t.Id));
        var rest = await Broker.FetchAsync(Queue, "w1", 10, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(fresh.Select(t => t.Id), rest.Select(t => t.Id));
    }

    [Fact]
    public async Task A_recovered_task_behind_fresh_ones_waits_for_the_next_batch()
    {
        var fresh = await EnqueueOne();
        var suspect = NewTask();
        await Redis.Db.HashSetAsync(Keys.Recoveries, suspect.Id, 1);
        await Broker.EnqueueAsync(Queue, new[] { suspect });
        var first = await Broker.FetchAsync(Queue, "w1", 10, Clock.UtcNow.AddSeconds(30));
        Assert.Equal(new[] { fresh.Id }, first.Select(t => t.Id));
        Assert.Equal(suspect.Id, (string?)await Redis.Db.ListGetByIndexAsync(Keys.Pending, -1));
    }

    [Fact]
    public async Task Cancel_fails_a_pending_task_at_once_and_flags_an_active_one_for_its_worker()
    {
        var pending = await EnqueueOne();
        var active = await EnqueueOne();
        await Broker.FetchAsync(Queue, "w1", 1, Clock.UtcNow.AddSeconds(30));   // takes 'pending' (FIFO)
        Assert.Equal(CancelOutcome.StopRequested, await Broker.CancelAsync(Queue, pending.Id, "stop it"));
        Assert.Equal(CancelOutcome.Canceled, await Broker.CancelAsync(Queue, active.Id, "not needed"));
        var failure = Assert.Single(await Broker.Reads.GetFailuresAsync(Queue, 10));
        Assert.Equal((active.Id, FailureReasons.Canceled, "not needed"), (failure.Error.Id, failure.Error.Reason, failure.Error.Message));
        Assert.Equal(0, await Redis.Db.ListLengthAsync(Keys.Pending));

        var (lost, canceled) = await Broker.ExtendAsync(Queue, "w1", new[] { pending.Id }, Clock.UtcNow.AddSeconds(30));
        Assert.Empty(lost);
        Assert.Equal(new[] { pending.Id }, canceled);
        Assert.Equal(CancelOutcome.NotCancelable, await Broker.CancelAsync(Queue, "no-such-id", "x"));
    }

    [Fact]
    public async Task A_key_of_the_wrong_type_is_named_in_the_error()
    {
        await Redis.Db.StringSetAsync(Keys.Pending, "someone else's value");
        var ex = await Assert.ThrowsAsync<QueueKeyTypeException>(() => Broker.EnqueueAsync(Queue, new[] { NewTask() }));
        Assert.Equal((string)Keys.Pending!, ex.Key);
        Assert.Contains("holds a string, where TaskQueue keeps a list", ex.Message);
        // Also when the batch is stored with plain commands (new ids, more than one task).
        var fresh = new[] { NewTask(), NewTask() };
        foreach (var task in fresh) task.Id = "";
        ex = await Assert.ThrowsAsync<QueueKeyTypeException>(() => Broker.EnqueueAsync(Queue, fresh));
        Assert.Equal((string)Keys.Pending!, ex.Key);
        await Assert.ThrowsAsync<QueueKeyTypeException>(() => Broker.Reads.CountAsync(Queue));
    }

    private TaskEnvelope Unique(string key)
    {
        var task = NewTask();
        task.UniqueKey = key;
        return task;
    }

    [Fact]
    public async Task A_key_of_the_wrong_type_stops_a_script_before_it_writes_so_no_task_is_left_in_no_structure()
    {
        // Every key of a queue in turn holds another type than TaskQueue keeps there (SET tq:{q}:canceled x): a task
        // completed or failed then is either recorded, or refused with WRONGTYPE and still where it was.
        var vanished = new List<string>();
        foreach (var (key, type) in Keys.Expected())
        {
            foreach (var (k, _) in Keys.Expected()) await Redis.Db.KeyDeleteAsync(k);
            var done = await EnqueueOne();
            var failed = await EnqueueOne();
            Assert.Equal(2, (await Broker.FetchAsync(Queue, "w1", 2, Clock.UtcNow.AddSeconds(30))).Count);
            if (type == RedisType.String) await Redis.Db.ListLeftPushAsync(key, "x");
            else await Redis.Db.StringSetAsync(key, "x");
            await Refused(() => Broker.CompleteAsync("w1", Result(done.Id)));
            await Refused(() => Broker.FailAsync("w1", Error(failed.Id), null));
            // Replacing active itself takes the leased tasks out of it: that is the writer's doing, not a script's.
            if (key == Keys.Active) continue;
            foreach (var id in new[] { done.Id, failed.Id })
                if (!await InSomeStructure(id)) vanished.Add($"{key}: task {id}");
        }
        Assert.Empty(vanished);
    }

    // A call that either works or is refused by the type check, naming the key.
    private static async Task Refused(Func<Task> call)
    {
        try { await call(); }
        catch (QueueKeyTypeException) { }
    }

    private async Task<bool> InSomeStructure(string id)
    {
        var db = Redis.Db;
        foreach (var list in Keys.PendingLists)
        {
            try { if ((await db.ListRangeAsync(list)).Any(v => v == id)) return true; }
            catch (RedisServerException) { }
        }
        foreach (var set in new[] { Keys.Active, Keys.Retry, Keys.Failed, Keys.Succeeded, Keys.Scheduled, Keys.Waiting })
        {
            try { if (await db.SortedSetScoreAsync(set, id) is not null) return true; }
            catch (RedisServerException) { }
        }
        return false;
    }

    private TaskResult Result(string id) => new()
    {
        Id = id, Queue = Queue, Worker = "w1", Attempts = 1, StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow,
    };

    private TaskError Error(string id) => new() { Id = id, Queue = Queue, Message = "boom", FailedAt = Clock.UtcNow };
}

using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Tests;

/// <summary>A slot's stream log against a real Redis, its time driven by a fake clock: when it sends, what it keeps, what it costs.</summary>
[Collection("redis")]
public sealed class StreamLogTests : BrokerTest
{
    public StreamLogTests(RedisFixture redis) : base(redis) { }

    private StreamLog NewLog() => new(Broker.Logs, Clock, Broker.Options) { OutputText = new CountingText() };

    /// <summary>Strings' and ints' text may be taken on any thread; other objects' only on the task's (as the executor's rule).</summary>
    private sealed class CountingText : IOutputText
    {
        public int Taken;
        public string Text(object item) { Taken++; return item.ToString()!; }
        public string? TextOnAnyThread(object item) => item is string or int ? item.ToString() : null;
        public bool HasTextOnAnyThread(object item) => item is string or int;
    }

    private async Task<List<TaskStreamEntry>> Stored(string id) =>
        (await Broker.Logs.ReadAllAsync(Queue, id)).ToList();

    /// <summary>
    /// Fire-and-forget appends to a task's log have reached Redis once a later command on the same connection to the
    /// same server (the key's, also in a cluster) answers.
    /// </summary>
    private Task Settle(string id) => Redis.Db.KeyExistsAsync(Keys.Log(id));

    [Fact]
    public async Task Sends_nothing_for_an_attempt_that_wrote_nothing_or_only_output_and_ended_before_its_first_batch()
    {
        var log = NewLog();
        var commands = await CommandsSentDuring(() =>
        {
            log.Begin(Queue, "quiet", 1);
            log.End(succeeded: true);
            log.Begin(Queue, "output", 1);
            log.WriteOutput(42);
            Clock.Advance(TimeSpan.FromMilliseconds(100));
            log.FlushIfDue();
            log.End(succeeded: true);
            return Task.WhenAll(Settle("quiet"), Settle("output"));
        });
        Assert.Equal(new[] { "EXISTS", "EXISTS" }, commands);
        // Nor did it take the output's text.
        Assert.Equal(0, ((CountingText)log.OutputText!).Taken);
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Log("quiet")));
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Log("output")));
    }

    [Fact]
    public async Task Sends_a_running_tasks_entries_once_it_has_run_a_batch_interval_and_the_rest_in_order_at_its_end()
    {
        var log = NewLog();
        log.Begin(Queue, "live", 2);
        log.WriteOutput("first");
        log.FlushIfDue();
        await Settle("live");
        Assert.False(await Redis.Db.KeyExistsAsync(Keys.Log("live")));
        Clock.Advance(StreamLog.FlushEvery);
        log.FlushIfDue();
        await Settle("live");
        Assert.Equal(new[] { "first" }, (await Stored("live")).Select(e => e.Message));
        log.Write(TaskStreamEntry.Verbose, "second");
        log.WriteOutput(3);
        log.End(succeeded: false);
        await Settle("live");
        var entries = await Stored("live");
        Assert.Equal(new[] { "first", "second", "3" }, entries.Select(e => e.Message));
        Assert.Equal(new[] { "Output", "Verbose", "Output" }, entries.Select(e => e.Stream));
        Assert.All(entries, e => Assert.Equal(2, e.Attempt));
        // A failure's log lasts as long as its record.
        var ttl = await Redis.Db.KeyTimeToLiveAsync(Keys.Log("live"));
        Assert.InRange(ttl!.Value, Broker.Options.FailureRetention - TimeSpan.FromMinutes(1), Broker.Options.FailureRetention);
    }

    [Fact]
    public async Task An_objects_text_is_taken_on_the_tasks_thread_when_written_so_the_flusher_sends_everything_in_order()
    {
        var log = NewLog();
        var text = (CountingText)log.OutputText!;
        log.Begin(Queue, "order", 1);
        log.Write(TaskStreamEntry.Warning, "before");
        log.WriteOutput("safe");
        Assert.Equal(0, text.Taken);
        // Not a string or a number: its text is taken now (and the string's before it, to keep the order).
        log.WriteOutput(new Uri("https://example.invalid/"));
        Assert.Equal(2, text.Taken);
        log.WriteOutput("after");
        // The flusher, on its own thread, takes the string's text and sends all of it: nothing waits for the task.
        Clock.Advance(StreamLog.FlushEvery);
        log.FlushIfDue();
        await Settle("order");
        Assert.Equal(new[] { "before", "safe", "https://example.invalid/", "after" }, (await Stored("order")).Select(e => e.Message));
        Assert.Equal(2, text.Taken);
        log.End(succeeded: true);
    }

    [Fact]
    public async Task Keeps_only_the_last_unsent_update_of_an_activity()
    {
        var log = NewLog();
        log.Begin(Queue, "progress", 1);
        for (var i = 1; i <= 1000; i++) log.WriteProgress(0, "Scan", $"item {i}", i / 10, completed: false);
        log.Write(TaskStreamEntry.Warning, "between");
        log.WriteProgress(0, "Scan", "done", 100, completed: true);
        log.End(succeeded: true);
        await Settle("progress");
        var entries = await Stored("progress");
        // The activity's last state, where it was written: after the warning.
        Assert.Equal(new[] { "Warning", "Progress" }, entries.Select(e => e.Stream));
        Assert.Equal("done", entries[1].Status);
        Assert.True(entries[1].Completed);
    }

    [Fact]
    public async Task Bounds_an_attempt_and_says_how_much_it_dropped()
    {
        var log = NewLog();
        log.Begin(Queue, "flood", 1);
        var line = new string('x', 1000);
        for (var i = 0; i < 3000; i++) log.Write(TaskStreamEntry.Verbose, line);
        log.End(succeeded: true);
        await Settle("flood");
        var entries = await Stored("flood");
        var kept = entries.Count(e => e.Stream == TaskStreamEntry.Verbose);
        Assert.True(kept * 1000 <= StreamLog.MaxBytes, $"{kept} entries of 1000 bytes kept");
        Assert.True(kept > 1000);
        Assert.Equal(TaskStreamEntry.Warning, entries[^1].Stream);
        Assert.Contains($"dropped {3000 - kept} entries", entries[^1].Message);
    }

    [Fact]
    public async Task A_reader_takes_what_the_log_does_not_hold_of_the_last_attempt_from_the_record()
    {
        // A task that wrote only output and ended at once: its record holds the output, its log nothing.
        var task = NewTask();
        await Broker.EnqueueAsync(Queue, new[] { task });
        Assert.Single(await Broker.FetchAsync(Queue, "w", 1, Clock.UtcNow.AddSeconds(30)));
        Assert.True(await Broker.CompleteAsync("w", new TaskResult { Id = task.Id, Queue = Queue, Worker = "w", Attempts = 1, Output = "[\"a\",{\"n\":1}]", StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow }));
        var cursor = new TaskLogCursor(Broker, Queue, task.Id);
        var entries = await cursor.ReadAsync();
        Assert.True(cursor.Ended);
        Assert.Equal(new[] { "a", "{\"n\":1}" }, entries.Select(e => e.Message));
        Assert.All(entries, e => Assert.True(e.FromRecord));
        Assert.Empty(await cursor.ReadAsync());
    }
}

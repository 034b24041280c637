using System.Collections.Concurrent;
using StackExchange.Redis;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;
using Xunit;

namespace TaskQueue.Core.Tests;

/// <summary>
/// The lease script's flow-control branches (fetch.lua: suspended, concurrency limit, rate limit) with an injected
/// clock, what it answers a worker about when to look again, HeldBack, and the wake-up messages themselves
/// (<c>resumed</c>, <c>free</c>, <c>limits</c>) that let a held-back worker go on without a sweep.
/// </summary>
[Collection("redis")]
public sealed class FlowControlTests : BrokerTest
{
    public FlowControlTests(RedisFixture redis) : base(redis) { }

    private async Task Send(int count)
    {
        for (var i = 0; i < count; i++) await EnqueueOne();
    }

    private Task<FetchReply> Lease(int max, string worker = "w1") => Broker.LeaseAsync(Queue, worker, max, Clock.UtcNow.AddMinutes(5));

    /// <summary>The messages on the queue's wake channel while <paramref name="act"/> runs.</summary>
    private async Task<string[]> Messages(Func<Task> act)
    {
        var got = new ConcurrentQueue<string>();
        var channel = RedisChannel.Literal(Keys.WakeChannel);
        var subscriber = Redis.Connection.GetSubscriber();
        await subscriber.SubscribeAsync(channel, (_, message) => got.Enqueue((string)message!));
        try
        {
            await act();
            // A message published inside a script reaches the subscriber after the script's reply: wait for it.
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (got.IsEmpty && DateTime.UtcNow < deadline) await Task.Delay(20);
            await Task.Delay(100);
        }
        finally { await subscriber.UnsubscribeAsync(channel); }
        return got.ToArray();
    }

    [Fact]
    public async Task A_suspended_queue_leases_nothing_and_holds_back_every_task_until_resumed_which_says_so_on_the_wake_channel()
    {
        await Send(3);
        await Broker.Limits.SuspendAsync(Queue);
        var held = await Lease(3);
        Assert.Empty(held.Tasks);
        Assert.Equal(0, held.Hold);
        Assert.Equal(3, (await Broker.Reads.CountAsync(Queue)).HeldBack);

        var messages = await Messages(() => Broker.Limits.ResumeAsync(Queue));
        Assert.Contains("resumed", messages);
        Assert.Equal(3, (await Lease(3)).Tasks.Count);
    }

    [Fact]
    public async Task Under_a_concurrency_limit_a_lease_stops_at_the_limit_and_a_finished_task_announces_its_free_place()
    {
        await Broker.Limits.SetConcurrencyAsync(Queue, 2);
        await Send(5);
        var first = await Lease(5);
        Assert.Equal(2, first.Tasks.Count);
        var second = await Lease(5, "w2");
        Assert.Empty(second.Tasks);
        Assert.Equal(0, second.Hold);
        Assert.Equal(3, (await Broker.Reads.CountAsync(Queue)).HeldBack);

        var done = first.Tasks[0];
        var messages = await Messages(() => Broker.CompleteAsync("w1", new TaskResult
        {
            Id = done.Id, Queue = Queue, Worker = "w1", Attempts = 1, StartedAt = Clock.UtcNow, CompletedAt = Clock.UtcNow,
        }));
        Assert.Contains("free", messages);
        Assert.Single((await Lease(5, "w2")).Tasks);
        Assert.Empty((await Lease(5, "w2")).Tasks);
    }

    [Fact]
    public async Task Under_a_rate_limit_starts_are_spaced_evenly_and_a_held_back_worker_is_told_when_the_next_may_start()
    {
        // 2 per second: one every 500 ms, no burst.
        await Broker.Limits.SetRateAsync(Queue, 2, TimeSpan.FromSeconds(1));
        await Send(4);
        Assert.Single((await Lease(4)).Tasks);
        var held = await Lease(4);
        Assert.Empty(held.Tasks);
        Assert.Equal(Clock.UtcNow.AddMilliseconds(500).ToUnixTimeMilliseconds(), held.Hold);
        Assert.Equal(3, (await Broker.Reads.CountAsync(Queue)).HeldBack);

        Clock.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Empty((await Lease(4)).Tasks);
        Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single((await Lease(4)).Tasks);
        // Time that passed with nothing to start is not saved up for a burst.
        Clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Single((await Lease(4)).Tasks);
        Assert.Empty((await Lease(4)).Tasks);
    }

    [Fact]
    public async Task Changing_a_limit_says_limits_on_the_wake_channel()
    {
        await Broker.Limits.SetConcurrencyAsync(Queue, 1);
        var messages = await Messages(() => Broker.Limits.SetConcurrencyAsync(Queue, 3));
        Assert.Contains("limits", messages);
    }
}

using System;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>A queue's flow control as stored: suspended, and its concurrency and rate limits (null: none).</summary>
public sealed class QueueLimitSettings
{
    public bool Suspended { get; set; }
    public int? ConcurrencyLimit { get; set; }
    public int? RateLimit { get; set; }
    public TimeSpan? RatePeriod { get; set; }
    /// <summary>How long a priority level waits while higher levels are leased before it gives the next task.</summary>
    public TimeSpan PriorityAging { get; set; } = QueueLimits.DefaultPriorityAging;
    /// <summary>When the rate limit lets the next task start, when that is later than now (null otherwise).</summary>
    public DateTimeOffset? NextStart { get; set; }
}

/// <summary>
/// Flow control across the fleet (Suspend-TqQueue, Resume-TqQueue, Set-TqQueue -ConcurrencyLimit, -RateLimit): kept in
/// the queue's limits hash and enforced by the fetch script, where every worker sees the same counts. A suspended
/// queue keeps taking tasks and lets running ones finish; no worker leases from it. A sharded queue is suspended in
/// every shard; its concurrency and rate limits are not supported (each shard would count on its own).
/// </summary>
public sealed class QueueLimits : BrokerStore
{
    internal QueueLimits(RedisBroker broker) : base(broker) { }

    /// <summary>The aging time of a queue that has none set (fetch-12.lua's AGING_MS).</summary>
    public static readonly TimeSpan DefaultPriorityAging = TimeSpan.FromSeconds(30);

    public async Task<QueueLimitSettings> GetAsync(string queue)
    {
        var k = Keys(queue);
        var next = Db.StringGetAsync(k.RateState);
        var values = await Db.HashGetAsync(k.Limits, new RedisValue[] { "suspended", "concurrency", "rate", "period", "aging" }).ConfigureAwait(false);
        var nextMs = (long?)await next.ConfigureAwait(false);
        return new QueueLimitSettings
        {
            NextStart = nextMs is { } ms && ms > Clock.UtcNow.ToUnixMs() ? ClockExtensions.FromUnixMs(ms) : null,
            Suspended = values[0].HasValue,
            ConcurrencyLimit = values[1].HasValue ? (int)values[1] : null,
            RateLimit = values[2].HasValue ? (int)values[2] : null,
            RatePeriod = values[3].HasValue ? TimeSpan.FromMilliseconds((long)values[3]) : null,
            PriorityAging = values[4].HasValue ? TimeSpan.FromMilliseconds((long)values[4]) : DefaultPriorityAging,
        };
    }

    /// <summary>No worker leases from the queue (every shard) until it is resumed; tasks still come in, running ones finish.</summary>
    public async Task SuspendAsync(string queue)
    {
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
            await Db.HashSetAsync(Keys(shard).Limits, "suspended", 1).ConfigureAwait(false);
        await Db.SetAddAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
    }

    /// <summary>Workers lease from the queue again; they hear it at once on the wake channel.</summary>
    public async Task ResumeAsync(string queue)
    {
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
        {
            var k = Keys(shard);
            await Db.HashDeleteAsync(k.Limits, "suspended").ConfigureAwait(false);
            await Db.PublishAsync(RedisChannel.Literal(k.WakeChannel), "resumed").ConfigureAwait(false);
        }
    }

    /// <summary>At most <paramref name="limit"/> tasks of the queue leased at once across all workers; null removes the limit.</summary>
    public async Task SetConcurrencyAsync(string queue, int? limit)
    {
        var k = await SingleShardKeysAsync(queue, "a concurrency limit").ConfigureAwait(false);
        if (limit is { } n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(limit), n, "A concurrency limit is at least 1.");
            await Db.HashSetAsync(k.Limits, "concurrency", n).ConfigureAwait(false);
        }
        else await Db.HashDeleteAsync(k.Limits, "concurrency").ConfigureAwait(false);
        // A higher limit (or none) lets held-back workers lease again.
        await Db.PublishAsync(RedisChannel.Literal(k.WakeChannel), "limits").ConfigureAwait(false);
    }

    /// <summary>At most <paramref name="limit"/> tasks started per <paramref name="period"/>, evenly spaced; null removes the limit.</summary>
    public async Task SetRateAsync(string queue, int? limit, TimeSpan period)
    {
        var k = await SingleShardKeysAsync(queue, "a rate limit").ConfigureAwait(false);
        if (limit is { } n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(limit), n, "A rate limit is at least 1.");
            if (period < TimeSpan.FromMilliseconds(1)) throw new ArgumentOutOfRangeException(nameof(period), period, "A rate period is at least 1 ms.");
            await Db.HashSetAsync(k.Limits, new[] { new HashEntry("rate", n), new HashEntry("period", (long)period.TotalMilliseconds) }).ConfigureAwait(false);
        }
        else await Db.HashDeleteAsync(k.Limits, new RedisValue[] { "rate", "period" }).ConfigureAwait(false);
        await Db.PublishAsync(RedisChannel.Literal(k.WakeChannel), "limits").ConfigureAwait(false);
    }

    /// <summary>
    /// How long a priority level whose tasks wait while higher levels are leased waits before it gives the next task
    /// (aging, fetch-12.lua); null goes back to <see cref="DefaultPriorityAging"/>. Set in every shard: each orders its
    /// own tasks.
    /// </summary>
    public async Task SetPriorityAgingAsync(string queue, TimeSpan? aging)
    {
        QueueName.Validate(queue);
        if (aging is { } a && a < TimeSpan.FromMilliseconds(1)) throw new ArgumentOutOfRangeException(nameof(aging), a, "An aging time is at least 1 ms.");
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
        {
            var k = Keys(shard);
            if (aging is { } time) await Db.HashSetAsync(k.Limits, "aging", (long)Math.Ceiling(time.TotalMilliseconds)).ConfigureAwait(false);
            else await Db.HashDeleteAsync(k.Limits, "aging").ConfigureAwait(false);
        }
        await Db.SetAddAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
    }

    private async Task<QueueKeys> SingleShardKeysAsync(string queue, string what)
    {
        QueueName.Validate(queue);
        if (await Broker.Shards.CountAsync(queue).ConfigureAwait(false) > 1)
            throw new InvalidOperationException($"Queue '{queue}' is sharded: {what} would count in each shard on its own. Set it on a queue of one shard.");
        await Db.SetAddAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
        return Keys(queue);
    }
}

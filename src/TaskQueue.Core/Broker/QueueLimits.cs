using System;
using System.Linq;
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
    /// <summary>The most attempts any task of the queue gets (Set-TqQueue -MaxAttempts), below its own MaxAttempts; null: none set.</summary>
    public int? MaxAttempts { get; set; }
    /// <summary>When the rate limit lets the next task start, when that is later than now (null otherwise).</summary>
    public DateTimeOffset? NextStart { get; set; }
}

/// <summary>
/// Flow control across the fleet (Suspend-TqQueue, Resume-TqQueue, Set-TqQueue -ConcurrencyLimit, -RateLimit): kept in
/// the queue's limits hash and enforced by the fetch script, where every worker sees the same counts. A suspended
/// queue keeps taking tasks and lets running ones finish; no worker leases from it. A sharded queue is suspended in
/// every shard, and its concurrency and rate limits are split over its shards, each enforcing its share: at most the
/// limit in all, though a busy shard cannot borrow the share of an idle one.
/// </summary>
public sealed class QueueLimits : BrokerStore
{
    internal QueueLimits(RedisBroker broker) : base(broker) { }

    /// <summary>The aging time of a queue that has none set (fetch.lua's AGING_MS).</summary>
    public static readonly TimeSpan DefaultPriorityAging = TimeSpan.FromSeconds(30);

    public async Task<QueueLimitSettings> GetAsync(string queue)
    {
        var k = Keys(queue);
        var next = Db.StringGetAsync(k.RateState);
        var values = await Db.HashGetAsync(k.Limits, new RedisValue[] { "suspended", "concurrency", "rate", "period", "aging", MaxAttemptsField }).ConfigureAwait(false);
        var nextMs = (long?)await next.ConfigureAwait(false);
        return new QueueLimitSettings
        {
            NextStart = nextMs is { } ms && ms > Clock.UtcNow.ToUnixMs() ? ClockExtensions.FromUnixMs(ms) : null,
            Suspended = values[0].HasValue,
            ConcurrencyLimit = values[1].HasValue ? (int)values[1] : null,
            RateLimit = values[2].HasValue ? (int)values[2] : null,
            RatePeriod = values[3].HasValue ? TimeSpan.FromMilliseconds((long)values[3]) : null,
            PriorityAging = values[4].HasValue ? TimeSpan.FromMilliseconds((long)values[4]) : DefaultPriorityAging,
            MaxAttempts = values[5].HasValue ? (int)values[5] : null,
        };
    }

    /// <summary>The field of the limits hash that holds the queue's cap on attempts.</summary>
    internal const string MaxAttemptsField = "maxattempts";

    /// <summary>
    /// At most <paramref name="maxAttempts"/> attempts for any task of the queue (every shard), whatever the task asks
    /// for: 1 makes the queue fail fast. Workers apply it when an attempt fails (so it holds for tasks already queued and
    /// from any client); null removes it.
    /// </summary>
    public async Task SetMaxAttemptsAsync(string queue, int? maxAttempts)
    {
        QueueName.Validate(queue);
        if (maxAttempts is < 1) throw new ArgumentOutOfRangeException(nameof(maxAttempts), maxAttempts, "-MaxAttempts is at least 1.");
        foreach (var shard in await Broker.Shards.OfAsync(queue).ConfigureAwait(false))
        {
            var k = Keys(shard);
            if (maxAttempts is { } most) await Db.HashSetAsync(k.Limits, MaxAttemptsField, most).ConfigureAwait(false);
            else await Db.HashDeleteAsync(k.Limits, MaxAttemptsField).ConfigureAwait(false);
        }
        await Db.SetAddAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
    }

    /// <summary>The queue's (or shard's) cap on attempts as stored; null when none is set.</summary>
    public async Task<int?> GetMaxAttemptsAsync(string queueOrShard) =>
        (int?)await Db.HashGetAsync(Keys(queueOrShard).Limits, MaxAttemptsField).ConfigureAwait(false);

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

    /// <summary>
    /// At most <paramref name="limit"/> tasks of the queue leased at once across all workers; null removes the limit. On
    /// a sharded queue, each shard enforces its share (see <see cref="Shares"/>): at most the limit in all.
    /// </summary>
    public async Task SetConcurrencyAsync(string queue, int? limit)
    {
        if (limit is < 1) throw new ArgumentOutOfRangeException(nameof(limit), limit, "A concurrency limit is at least 1.");
        var shards = await ShardsOfAsync(queue).ConfigureAwait(false);
        await WriteSharesAsync(shards, "concurrency", limit, null).ConfigureAwait(false);
    }

    /// <summary>
    /// At most <paramref name="limit"/> tasks started per <paramref name="period"/>, evenly spaced; null removes the limit.
    /// On a sharded queue, each shard starts its share of them per period.
    /// </summary>
    public async Task SetRateAsync(string queue, int? limit, TimeSpan period)
    {
        if (limit is < 1) throw new ArgumentOutOfRangeException(nameof(limit), limit, "A rate limit is at least 1.");
        if (limit is not null && period < TimeSpan.FromMilliseconds(1)) throw new ArgumentOutOfRangeException(nameof(period), period, "A rate period is at least 1 ms.");
        var shards = await ShardsOfAsync(queue).ConfigureAwait(false);
        await WriteSharesAsync(shards, "rate", limit, (long)period.TotalMilliseconds).ConfigureAwait(false);
    }

    /// <summary>
    /// A limit split over shards: each gets the whole divided by their number, the first ones one more for what is
    /// left over, so that the shares add up to the limit. Each shard needs at least 1, so the limit must be at least
    /// the number of shards.
    /// </summary>
    public static int[] Shares(int limit, int shards, string what = "limit")
    {
        if (limit < shards)
            throw new InvalidOperationException($"A {what} of {limit} cannot be split over {shards} shards: each shard needs at least 1. Set at least {shards}, or fewer shards.");
        return Enumerable.Range(0, shards).Select(i => limit / shards + (i < limit % shards ? 1 : 0)).ToArray();
    }

    /// <summary>
    /// Splits the queue's concurrency and rate limits over <paramref name="count"/> shards (Set-TqQueue -Shards), before
    /// the count changes: the new shards hold their shares first, so no moment has more than the limit in all (the
    /// shards that go hold no live task). New shards are suspended when the queue is, and age priorities alike.
    /// Throws, changing nothing, when a limit is lower than the new count.
    /// </summary>
    internal async Task SplitForAsync(string queue, int now, int count)
    {
        var old = Enumerable.Range(0, now).Select(i => ShardRouter.Shard(queue, i)).ToArray();
        var next = Enumerable.Range(0, count).Select(i => ShardRouter.Shard(queue, i)).ToArray();
        var stored = await Task.WhenAll(old.Select(s => Db.HashGetAsync(Keys(s).Limits, new RedisValue[] { "concurrency", "rate", "period", "suspended", "aging" }))).ConfigureAwait(false);
        int? concurrency = stored[0][0].HasValue ? stored.Sum(v => (int)v[0]) : null;
        int? rate = stored[0][1].HasValue ? stored.Sum(v => (int)v[1]) : null;
        if (concurrency is { } c) Shares(c, count, "concurrency limit");
        if (rate is { } r) Shares(r, count, "rate limit");
        if (concurrency is not null) await WriteSharesAsync(next, "concurrency", concurrency, null).ConfigureAwait(false);
        if (rate is not null) await WriteSharesAsync(next, "rate", rate, (long)stored[0][2]).ConfigureAwait(false);
        foreach (var added in next.Skip(now))
        {
            var k = Keys(added);
            if (stored[0][3].HasValue) await Db.HashSetAsync(k.Limits, "suspended", 1).ConfigureAwait(false);
            if (stored[0][4].HasValue) await Db.HashSetAsync(k.Limits, "aging", stored[0][4]).ConfigureAwait(false);
        }
        foreach (var gone in old.Skip(count))
            await Db.HashDeleteAsync(Keys(gone).Limits, new RedisValue[] { "concurrency", "rate", "period" }).ConfigureAwait(false);
    }

    private async Task<string[]> ShardsOfAsync(string queue)
    {
        QueueName.Validate(queue);
        await Db.SetAddAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
        return await Broker.Shards.OfAsync(queue).ConfigureAwait(false);
    }

    /// <summary>Writes a limit's shares ('rate' with its 'period') to the shards, or removes it; held-back workers hear it.</summary>
    private async Task WriteSharesAsync(string[] shards, string field, int? limit, long? periodMs)
    {
        var shares = limit is { } n ? Shares(n, shards.Length, field == "rate" ? "rate limit" : "concurrency limit") : null;
        for (var i = 0; i < shards.Length; i++)
        {
            var k = Keys(shards[i]);
            if (shares is null)
                await Db.HashDeleteAsync(k.Limits, field == "rate" ? new RedisValue[] { "rate", "period" } : new RedisValue[] { field }).ConfigureAwait(false);
            else if (periodMs is { } ms)
                await Db.HashSetAsync(k.Limits, new[] { new HashEntry(field, shares[i]), new HashEntry("period", ms) }).ConfigureAwait(false);
            else
                await Db.HashSetAsync(k.Limits, field, shares[i]).ConfigureAwait(false);
            // A higher limit (or none) lets held-back workers lease again.
            await Db.PublishAsync(RedisChannel.Literal(k.WakeChannel), "limits").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// How long a priority level whose tasks wait while higher levels are leased waits before it gives the next task
    /// (aging, fetch.lua); null goes back to <see cref="DefaultPriorityAging"/>. Set in every shard: each orders its
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
}

using TaskQueue.Core.Connection;
using Xunit;

namespace TaskQueue.Core.Tests;

/// <summary>RedisClock: Redis's TIME, followed by this host's clock however wrong that clock is.</summary>
[Collection("redis")]
public sealed class RedisClockTests
{
    private readonly RedisFixture _redis;
    public RedisClockTests(RedisFixture redis) => _redis = redis;

    private DateTimeOffset RedisNow()
    {
        var reply = (StackExchange.Redis.RedisResult[])_redis.Db.Execute("TIME")!;
        return DateTimeOffset.FromUnixTimeSeconds((long)reply[0]).AddTicks((long)reply[1] * 10);
    }

    [Fact]
    public void A_host_clock_ten_minutes_ahead_or_behind_still_reads_as_Redis_time_and_follows_it_between_reads()
    {
        foreach (var skew in new[] { TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(-10) })
        {
            var host = new FakeClock { UtcNow = DateTimeOffset.UtcNow + skew };
            var clock = new RedisClock(_redis.Connection, host);
            Assert.True(clock.Sync());
            Assert.InRange((clock.UtcNow - RedisNow()).Duration().TotalSeconds, 0, 1);
            Assert.InRange((clock.Offset + skew).Duration().TotalSeconds, 0, 1);
            // Between reads it moves with the host's clock.
            var before = clock.UtcNow;
            host.Advance(TimeSpan.FromSeconds(7));
            Assert.Equal(before + TimeSpan.FromSeconds(7), clock.UtcNow);
        }
    }

    /// <summary>A host clock that moves on by itself each time it is read (a slow round trip).</summary>
    private sealed class SlowClock : IClock
    {
        private DateTimeOffset _now = DateTimeOffset.UtcNow;
        public DateTimeOffset UtcNow { get { var now = _now; _now += TimeSpan.FromSeconds(3); return now; } }
    }

    [Fact]
    public void A_TIME_answer_that_took_seconds_is_not_used()
    {
        var clock = new RedisClock(_redis.Connection, new SlowClock());
        Assert.False(clock.Sync());
        Assert.Equal(TimeSpan.Zero, clock.Offset);
    }

    [Fact]
    public void Until_Redis_answers_it_is_the_host_clock()
    {
        var host = new FakeClock();
        using var nowhere = StackExchange.Redis.ConnectionMultiplexer.Connect("127.0.0.1:1,abortConnect=false,connectTimeout=200,syncTimeout=200");
        var clock = new RedisClock(nowhere, host);
        Assert.False(clock.Sync());
        Assert.Equal(host.UtcNow, clock.UtcNow);
    }
}

using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Connection;

/// <summary>
/// The time of the Redis server (its <c>TIME</c>), kept between reads as an offset from this host's clock: every
/// lease deadline, due time and record time a process writes is Redis's, so a host whose clock runs ahead or behind
/// neither recovers live tasks nor holds dead ones. Read again every <see cref="ResyncInterval"/> in the background;
/// until the first read succeeds (or where the server has no TIME) it is this host's clock.
/// </summary>
public sealed class RedisClock : IClock
{
    private static readonly ConditionalWeakTable<IConnectionMultiplexer, RedisClock> ByConnection = new();
    private readonly IConnectionMultiplexer _connection;
    private readonly IClock _local;
    private long _offsetTicks;
    private long _syncedAt;
    private int _syncing;

    public static readonly TimeSpan ResyncInterval = TimeSpan.FromSeconds(30);
    /// <summary>A TIME read whose round trip took longer is not used.</summary>
    public static readonly TimeSpan SlowestRoundTrip = TimeSpan.FromMilliseconds(250);

    /// <summary>The clock of a connection, one per connection and process, read from Redis once on first use.</summary>
    public static RedisClock For(IConnectionMultiplexer connection) =>
        ByConnection.GetValue(connection, c =>
        {
            var clock = new RedisClock(c, SystemClock.Instance);
            // A process that just started is slow: a few tries for a quick answer, so that it does not run on its
            // host's clock (minutes off, perhaps) until the next read.
            for (var i = 0; i < 5 && !clock.Sync(); i++) Thread.Sleep(20);
            return clock;
        });

    /// <param name="local">This host's clock (tests pass one that is skewed).</param>
    public RedisClock(IConnectionMultiplexer connection, IClock local)
    {
        _connection = connection;
        _local = local;
    }

    /// <summary>How far Redis's clock is ahead of this host's (negative: behind), as last read.</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public DateTimeOffset UtcNow
    {
        get
        {
            var since = Stopwatch.GetTimestamp() - Interlocked.Read(ref _syncedAt);
            if (since > ResyncInterval.TotalSeconds * Stopwatch.Frequency && Interlocked.CompareExchange(ref _syncing, 1, 0) == 0)
                _ = Task.Run(() => { try { Sync(); } finally { Volatile.Write(ref _syncing, 0); } });
            return _local.UtcNow + Offset;
        }
    }

    /// <summary>Reads Redis's TIME and keeps its distance from this host's clock (the middle of the round trip). False
    /// when Redis could not say (unreachable, or a server without TIME): the last offset stays.</summary>
    public bool Sync()
    {
        try
        {
            var before = _local.UtcNow;
            var reply = (RedisResult[]?)_connection.GetDatabase().Execute("TIME");
            var after = _local.UtcNow;
            if (reply is null || reply.Length < 2) return false;
            // An answer that took long (Redis stopped, or busy) says little of when Redis read its clock: try again
            // in a second, and keep the offset read before.
            if (after - before > SlowestRoundTrip)
            {
                Interlocked.Exchange(ref _syncedAt, Stopwatch.GetTimestamp() - (long)((ResyncInterval.TotalSeconds - 1) * Stopwatch.Frequency));
                return false;
            }
            var redisNow = DateTimeOffset.FromUnixTimeSeconds((long)reply[0]).AddTicks((long)reply[1] * 10);
            var local = before + TimeSpan.FromTicks((after - before).Ticks / 2);
            Interlocked.Exchange(ref _offsetTicks, (redisNow - local).Ticks);
            Interlocked.Exchange(ref _syncedAt, Stopwatch.GetTimestamp());
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or InvalidCastException)
        {
            // Tried again on the next interval.
            Interlocked.Exchange(ref _syncedAt, Stopwatch.GetTimestamp());
            return false;
        }
    }
}

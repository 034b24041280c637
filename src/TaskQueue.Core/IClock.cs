using System;

namespace TaskQueue.Core;

/// <summary>The time source of leases, retries and records; tests pass their own.</summary>
public interface IClock
{
    DateTimeOffset UtcNow { get; }
}

public sealed class SystemClock : IClock
{
    public static readonly SystemClock Instance = new();
    public DateTimeOffset UtcNow => DateTimeOffset.UtcNow;
}

internal static class ClockExtensions
{
    public static long ToUnixMs(this DateTimeOffset time) => time.ToUnixTimeMilliseconds();
    /// <summary>Whole milliseconds, rounded up: a time that something must not happen before.</summary>
    public static long ToUnixMsNotBefore(this DateTimeOffset time)
    {
        var ms = time.ToUnixTimeMilliseconds();
        return time > FromUnixMs(ms) ? ms + 1 : ms;
    }
    public static DateTimeOffset FromUnixMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}

using System;

namespace TaskQueue.Core.Worker;

/// <summary>
/// How long a worker waits before it tries Redis again after a failed round: 250 ms, doubling up to 5 s, and back to
/// 250 ms once Redis answers (docs/RELIABILITY.md, "Redis outages"). Short enough to resume within seconds of an outage's
/// end; long enough that a worker does not hammer a Redis that refuses it.
/// </summary>
internal struct Backoff
{
    public static readonly TimeSpan First = TimeSpan.FromMilliseconds(250);
    public static readonly TimeSpan Longest = TimeSpan.FromSeconds(5);

    private TimeSpan _next;

    /// <summary>The wait before the next try; each call doubles the one after it, up to <see cref="Longest"/>.</summary>
    public TimeSpan Next()
    {
        var wait = _next == TimeSpan.Zero ? First : _next;
        _next = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, Longest.Ticks));
        return wait;
    }

    /// <summary>Redis answered: the next failure waits <see cref="First"/> again.</summary>
    public void Reset() => _next = TimeSpan.Zero;
}

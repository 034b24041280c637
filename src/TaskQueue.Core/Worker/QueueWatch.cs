using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace TaskQueue.Core.Worker;

/// <summary>
/// What the dispatcher knows of one queue it serves, so that it asks Redis about the queue only when something can
/// have changed there: tasks may be pending (a wake-up message came, or the last fetch left some), something comes due
/// (a retry, a delayed task or a schedule occurrence), or a lease runs out. An idle queue costs no command.
/// </summary>
/// <remarks>
/// Messages set the marks from the subscriber's thread; the dispatcher clears a mark before the call that answers it,
/// so that a message arriving during the call is not lost. Times are unix milliseconds, and only ever lowered by others.
/// </remarks>
internal sealed class WatchedQueue
{
    public const long Never = long.MaxValue;
    private int _maybePending = 1;
    private long _dueMs = long.MinValue;
    private long _leaseEndsMs = long.MinValue;

    public WatchedQueue(string name) => Name = name;

    public string Name { get; }

    /// <summary>Tasks may be waiting in the pending list: the next fetch with room asks for them.</summary>
    public bool MaybePending => Volatile.Read(ref _maybePending) == 1;
    public void MarkPending() => Volatile.Write(ref _maybePending, 1);
    public void ClearPending() => Volatile.Write(ref _maybePending, 0);

    /// <summary>When a retry, a delayed task or a schedule occurrence of the queue is due (unix ms; <see cref="Never"/>: none known).</summary>
    public long DueMs => Interlocked.Read(ref _dueMs);
    public void DueBy(long ms) => Lower(ref _dueMs, ms);
    /// <summary>Forgets the due time before the call that learns it anew.</summary>
    public void ForgetDue() => Interlocked.Exchange(ref _dueMs, Never);

    /// <summary>When the first lease of the queue runs out (unix ms; <see cref="Never"/>: no lease known).</summary>
    public long LeaseEndsMs => Interlocked.Read(ref _leaseEndsMs);
    public void LeaseEndsBy(long ms) => Lower(ref _leaseEndsMs, ms);
    public void ForgetLeaseEnd() => Interlocked.Exchange(ref _leaseEndsMs, Never);

    /// <summary>Everything at once: fetch, move what is due, recover what ran out.</summary>
    public void LookNow()
    {
        MarkPending();
        DueBy(long.MinValue);
        LeaseEndsBy(long.MinValue);
    }

    /// <summary>The worker leased tasks of the queue, so it writes records there and trims them.</summary>
    public bool Wrote { get; set; }
    /// <summary>Trim at the next turn (at start, and when the sweep finds the last trim older than the trim interval).</summary>
    public bool TrimAsked { get; set; } = true;
    public DateTimeOffset NextTrim { get; set; } = DateTimeOffset.MinValue;

    private static void Lower(ref long field, long value)
    {
        long current;
        do
        {
            current = Interlocked.Read(ref field);
            if (value >= current) return;
        }
        while (Interlocked.CompareExchange(ref field, value, current) != current);
    }
}

/// <summary>
/// The queues of a worker, highest priority first, and the sweep: every poll interval one queue, in turn, is looked at
/// in full, whatever its marks say. Wake-up messages, due times and lease deadlines drive the worker; the sweep is the
/// safety net for a message lost while the connection stayed up. With one queue it looks at it every poll interval;
/// with a thousand, the idle worker still sends Redis the same few commands a second.
/// </summary>
internal sealed class QueueWatch
{
    private readonly WatchedQueue[] _queues;
    private readonly Dictionary<string, WatchedQueue> _byName;
    private readonly TimeSpan _pollInterval;
    private int _cursor;
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    public QueueWatch(IEnumerable<string> queues, TimeSpan pollInterval)
    {
        _queues = queues.Select(q => new WatchedQueue(q)).ToArray();
        _byName = _queues.ToDictionary(q => q.Name, StringComparer.Ordinal);
        _pollInterval = pollInterval;
    }

    public IReadOnlyList<WatchedQueue> Queues => _queues;

    public WatchedQueue this[string name] => _byName[name];

    /// <summary>Looks at every queue in full: at start, and after the connection to Redis came back (messages may have been lost).</summary>
    public void LookAtAll()
    {
        foreach (var queue in _queues) queue.LookNow();
    }

    /// <summary>A message on a queue's wake channel: tasks were pushed to an empty list, or 'due:&lt;unix ms&gt;' when something comes due.</summary>
    public void Heard(string queue, string? message)
    {
        if (!_byName.TryGetValue(queue, out var watched)) return;
        if (message is not null && message.StartsWith("due:", StringComparison.Ordinal)
            && long.TryParse(message.Substring(4), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var ms))
            watched.DueBy(ms);
        else
            watched.MarkPending();
    }

    /// <summary>Every poll interval, marks the next queue in turn to be looked at in full (and trimmed, when its last trim is old).</summary>
    public void Sweep(DateTimeOffset now, TimeSpan trimInterval)
    {
        if (now < _nextSweep) return;
        if (_nextSweep != DateTimeOffset.MinValue)
        {
            var queue = _queues[_cursor];
            _cursor = (_cursor + 1) % _queues.Length;
            queue.LookNow();
            if (now >= queue.NextTrim) queue.TrimAsked = true;
        }
        _nextSweep = now + _pollInterval;
    }

    /// <summary>The next time something is due in any queue, or the next sweep, whichever comes first.</summary>
    public DateTimeOffset NextEvent()
    {
        var first = WatchedQueue.Never;
        foreach (var queue in _queues)
        {
            first = Math.Min(first, Math.Min(queue.DueMs, queue.LeaseEndsMs));
        }
        if (first == WatchedQueue.Never) return _nextSweep;
        var at = first <= 0 ? DateTimeOffset.MinValue : DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(first, 253402300799999));
        return at < _nextSweep ? at : _nextSweep;
    }
}

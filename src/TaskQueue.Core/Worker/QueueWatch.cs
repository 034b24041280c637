using System;
using System.Collections.Concurrent;
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

    private long _fetchAtMs = Never;
    /// <summary>When the rate limit lets this worker fetch from the queue again (unix ms; <see cref="Never"/>: not held back by it).</summary>
    public long FetchAtMs => Interlocked.Read(ref _fetchAtMs);
    public void FetchAt(long ms) => Interlocked.Exchange(ref _fetchAtMs, ms);

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
/// The queues of a worker, highest priority first, each with its shards (one, the queue itself, unless it is sharded:
/// Broker.ShardRouter), and the sweep: every poll interval one queue or shard, in turn, is looked at in full, whatever
/// its marks say. Wake-up messages, due times and lease deadlines drive the worker; the sweep is the safety net for a
/// message lost while the connection stayed up. With one queue it looks at it every poll interval; with a thousand,
/// the idle worker still sends Redis the same few commands a second. Only the dispatcher changes the shards; the
/// subscriber's threads read them.
/// </summary>
internal sealed class QueueWatch
{
    private readonly TimeSpan _pollInterval;
    private readonly ConcurrentDictionary<string, WatchedQueue> _byName = new(StringComparer.Ordinal);
    private readonly List<(string Queue, WatchedQueue[] Shards)> _groups;
    private readonly Dictionary<string, int> _nextShard = new(StringComparer.Ordinal);
    private WatchedQueue[] _queues;
    private int _cursor;
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    public QueueWatch(IEnumerable<string> queues, TimeSpan pollInterval)
    {
        _pollInterval = pollInterval;
        _groups = queues.Select(q => (q, new[] { Watch(q) })).ToList();
        _queues = _groups.SelectMany(g => g.Shards).ToArray();
    }

    /// <summary>Every queue and shard, in the order of the queues.</summary>
    public IReadOnlyList<WatchedQueue> Queues => _queues;

    public WatchedQueue this[string name] => _byName[name];

    /// <summary>The names of a queue's shards as watched now.</summary>
    public IReadOnlyList<string> ShardsOf(string queue) => _groups.First(g => g.Queue == queue).Shards.Select(s => s.Name).ToArray();

    /// <summary>Watches a queue's shards (shard 0, the queue itself, first); returns the names that are new.</summary>
    public IReadOnlyList<string> SetShards(string queue, IReadOnlyList<string> shards)
    {
        var index = _groups.FindIndex(g => g.Queue == queue);
        var added = shards.Where(s => !_byName.ContainsKey(s)).ToList();
        _groups[index] = (queue, shards.Select(Watch).ToArray());
        _queues = _groups.SelectMany(g => g.Shards).ToArray();
        _cursor %= _queues.Length;
        return added;
    }

    /// <summary>
    /// The queues in the order to fetch from: queue by queue, highest priority first, and within a sharded queue from
    /// a different shard each time, so that no shard's tasks wait behind another's.
    /// </summary>
    public IEnumerable<WatchedQueue> FetchOrder()
    {
        foreach (var (queue, shards) in _groups)
        {
            if (shards.Length == 1)
            {
                yield return shards[0];
                continue;
            }
            _nextShard.TryGetValue(queue, out var first);
            _nextShard[queue] = (first + 1) % shards.Length;
            for (var i = 0; i < shards.Length; i++) yield return shards[(first + i) % shards.Length];
        }
    }

    private WatchedQueue Watch(string name) => _byName.GetOrAdd(name, n => new WatchedQueue(n));

    /// <summary>Looks at every queue in full: at start, and after the connection to Redis came back (messages may have been lost).</summary>
    public void LookAtAll()
    {
        foreach (var queue in _queues) queue.LookNow();
    }

    /// <summary>
    /// A message on a queue's wake channel: tasks were pushed to an empty list, or 'due:&lt;unix ms&gt;' when something
    /// comes due. Returns true for the message that says the queue's shards changed.
    /// </summary>
    public bool Heard(string queue, string? message)
    {
        if (!_byName.TryGetValue(queue, out var watched)) return false;
        if (message == Broker.ShardRouter.ShardsMessage) return true;
        if (message is not null && message.StartsWith("due:", StringComparison.Ordinal)
            && long.TryParse(message.Substring(4), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var ms))
            watched.DueBy(ms);
        else
            watched.MarkPending();
        return false;
    }

    /// <summary>
    /// Every poll interval, marks the next queue in turn to be looked at in full (and trimmed, when its last trim is
    /// old); returns it, or null when no sweep was due.
    /// </summary>
    public WatchedQueue? Sweep(DateTimeOffset now)
    {
        if (now < _nextSweep) return null;
        var first = _nextSweep == DateTimeOffset.MinValue;
        _nextSweep = now + _pollInterval;
        if (first) return null;
        var queue = _queues[_cursor];
        _cursor = (_cursor + 1) % _queues.Length;
        queue.LookNow();
        if (now >= queue.NextTrim) queue.TrimAsked = true;
        return queue;
    }

    /// <summary>The next time something is due in any queue, or the next sweep, whichever comes first.</summary>
    public DateTimeOffset NextEvent()
    {
        var first = WatchedQueue.Never;
        foreach (var queue in _queues)
        {
            first = Math.Min(first, Math.Min(Math.Min(queue.DueMs, queue.LeaseEndsMs), queue.FetchAtMs));
        }
        if (first == WatchedQueue.Never) return _nextSweep;
        var at = first <= 0 ? DateTimeOffset.MinValue : DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(first, 253402300799999));
        return at < _nextSweep ? at : _nextSweep;
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using TaskQueue.Core.Broker;

namespace TaskQueue.Core.Worker;

/// <summary>
/// The leases a worker holds, and the order rules that keep them straight between the threads that touch them: the
/// dispatcher holds what it leased, slots and the acknowledger finish and let go, the heartbeat renews what is held
/// and asks which leases are lost, and Stop-TqTask's requests are kept here until the slot running the task sees them.
/// </summary>
/// <remarks>
/// A task is <em>held</em> from its lease until the worker is done with it; while its outcome (or its hand-back) is on
/// its way to Redis it is also <em>finishing</em>. Letting go releases it first and ends finishing after, so a
/// heartbeat that renewed the lease just as the outcome was written never sees the task held and not finishing, which
/// is what a lost lease looks like.
/// </remarks>
internal sealed class LeaseBook
{
    private readonly ConcurrentDictionary<LeasedTask, byte> _held = new();
    private readonly ConcurrentDictionary<LeasedTask, byte> _finishing = new();
    private readonly ConcurrentDictionary<LeasedTask, byte> _cancelRequested = new();
    private readonly object _changed = new();
    /// <summary>Milliseconds of a monotonic clock (not the wall clock, which a test may move).</summary>
    public static long MonotonicMs => System.Diagnostics.Stopwatch.GetTimestamp() / (System.Diagnostics.Stopwatch.Frequency / 1000);

    // When this worker last saw Redis fail or answer late (MonotonicMs), or long.MinValue.
    private long _troubleAt = long.MinValue;

    /// <summary>Redis failed a command of this worker, or answered a heartbeat late (a stall, a cut line).</summary>
    public void NoteRedisTrouble() => Interlocked.Exchange(ref _troubleAt, MonotonicMs);

    /// <summary>Whether Redis was in trouble for this worker within <paramref name="window"/>.</summary>
    public bool TroubledWithin(TimeSpan window)
    {
        var at = Interlocked.Read(ref _troubleAt);
        return at != long.MinValue && MonotonicMs - at <= (long)window.TotalMilliseconds;
    }
    private int _suspects;

    /// <summary>Tasks held now.</summary>
    public int Count => _held.Count;

    public bool IsEmpty => _held.IsEmpty;

    /// <summary>A suspect (a task whose worker died under it before) is held: nothing else may be leased beside it.</summary>
    public bool HoldsSuspect => Volatile.Read(ref _suspects) > 0;

    public bool IsHeld(LeasedTask task) => _held.ContainsKey(task);

    public bool IsFinishing(LeasedTask task) => _finishing.ContainsKey(task);

    /// <summary>The worker leased <paramref name="task"/>: from now on its lease is renewed.</summary>
    public void Hold(LeasedTask task)
    {
        _held[task] = 0;
        if (task.Recoveries > 0) Interlocked.Increment(ref _suspects);
    }

    /// <summary>
    /// True when <paramref name="task"/>'s lease has run out (by <paramref name="nowMs"/>) and this worker holds the same
    /// task again under a newer lease (it was recovered and leased back to this worker while the old run's outcome was
    /// on its way): the old outcome must not be written, or it would end the newer lease's run. Cheap for a live lease.
    /// </summary>
    public bool HasNewerCopy(LeasedTask task, long nowMs) =>
        task.LeaseEndsMs <= nowMs && _held.Keys.Any(t => !ReferenceEquals(t, task) && t.Id == task.Id && t.Queue == task.Queue);

    /// <summary>The tasks held, by queue (what the heartbeat renews).</summary>
    public IEnumerable<IGrouping<string, LeasedTask>> HeldByQueue() => _held.Keys.GroupBy(t => t.Queue);

    /// <summary>The outcome of <paramref name="task"/> is on its way to Redis (written in a batch, later).</summary>
    public void BeginFinishing(LeasedTask task) => _finishing[task] = 0;

    /// <summary>
    /// Marks <paramref name="tasks"/> finishing while <paramref name="write"/> writes their outcome or hands them
    /// back, then lets them go, whether the write succeeded or threw.
    /// </summary>
    public T Finish<T>(IReadOnlyCollection<LeasedTask> tasks, Func<T> write)
    {
        foreach (var task in tasks) BeginFinishing(task);
        try
        {
            return write();
        }
        finally
        {
            foreach (var task in tasks) LetGo(task);
        }
    }

    /// <summary>
    /// The worker is done with a task whose outcome was written: released first, then no longer finishing (the order
    /// the heartbeat relies on, see <see cref="Lost"/>).
    /// </summary>
    public void LetGo(LeasedTask task)
    {
        Release(task);
        _finishing.TryRemove(task, out _);
    }

    /// <summary>
    /// A slot is done with a task: released now, unless its outcome is on its way (the acknowledger lets it go once
    /// written).
    /// </summary>
    public void ReleaseUnlessFinishing(LeasedTask task)
    {
        if (!_finishing.ContainsKey(task)) Release(task);
    }

    private void Release(LeasedTask task)
    {
        if (_held.TryRemove(task, out _) && task.Recoveries > 0) Interlocked.Decrement(ref _suspects);
        _cancelRequested.TryRemove(task, out _);
        // Only a suspect waits for the others to finish (WaitToRunAlone).
        if (HoldsSuspect)
        {
            lock (_changed) Monitor.PulseAll(_changed);
        }
    }

    /// <summary>
    /// Of the ids Redis said this worker no longer holds (<paramref name="lostIds"/>, from a renewal of
    /// <paramref name="asked"/>), those that are truly lost: still held and not finishing. A task whose outcome was
    /// written while the renewal was on its way is not lost. Read in this order because <see cref="LetGo"/> releases
    /// before it ends finishing.
    /// </summary>
    public IReadOnlyList<string> Lost(ILookup<string, LeasedTask> asked, IEnumerable<string> lostIds) =>
        lostIds.Where(id => asked[id].Any(t => !_finishing.ContainsKey(t) && _held.ContainsKey(t))).ToList();

    /// <summary>The held task of that queue and id, or null.</summary>
    public LeasedTask? Find(string queue, string id) => _held.Keys.FirstOrDefault(t => t.Queue == queue && t.Id == id);

    /// <summary>Stop-TqTask asked to stop <paramref name="task"/>; kept until a slot takes the request or the task is released.</summary>
    public void RequestCancel(LeasedTask task) => _cancelRequested[task] = 0;

    public bool IsCancelRequested(LeasedTask task) => _cancelRequested.ContainsKey(task);

    /// <summary>True once per request: the slot that sees it records the task as canceled.</summary>
    public bool TakeCancelRequest(LeasedTask task) => _cancelRequested.TryRemove(task, out _);

    /// <summary>
    /// Holds a suspect until every other task of this worker finished, so that if it kills the process, its recovery
    /// counts against it alone. Returns early once <paramref name="stopping"/> says so.
    /// </summary>
    public void WaitToRunAlone(LeasedTask suspect, Func<bool> stopping)
    {
        lock (_changed)
        {
            while (!stopping() && _held.Keys.Any(t => !ReferenceEquals(t, suspect)))
                Monitor.Wait(_changed, 100);
        }
    }
}

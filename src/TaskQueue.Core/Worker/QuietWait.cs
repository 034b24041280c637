using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace TaskQueue.Core.Worker;

// The worker's threads hand work to each other thousands of times a second. The framework's waits
// (BlockingCollection, SemaphoreSlim, Task.Wait) spin and yield the processor before they block, which pays
// when a spare core exists. A worker shares its cores with the task runspaces and often with Redis itself:
// every yield there is a context switch taken from the thread being waited for (measured with perf:
// about a fifth of the worker's CPU in sched_yield). These waits block at once, on a monitor.

/// <summary>A first-in, first-out queue between the worker's threads whose consumers block without spinning.</summary>
internal sealed class QuietQueue<T>
{
    private readonly Queue<T> _items = new();
    private readonly object _gate = new();
    private int _count;
    private int _waiting;
    private bool _completed;

    /// <summary>Items in the queue; read without a lock.</summary>
    public int Count => Volatile.Read(ref _count);

    public void Add(T item)
    {
        if (!TryAdd(item)) throw new InvalidOperationException("The queue takes no more items.");
    }

    /// <summary>Adds an item unless <see cref="CompleteAdding"/> was called; false then.</summary>
    public bool TryAdd(T item)
    {
        lock (_gate)
        {
            if (_completed) return false;
            _items.Enqueue(item);
            _count = _items.Count;
            if (_waiting > 0) Monitor.Pulse(_gate);
            return true;
        }
    }

    public bool TryTake(out T item)
    {
        lock (_gate) return TakeLocked(out item);
    }

    /// <summary>Waits until an item comes, or returns false once the queue is complete and empty.</summary>
    public bool TryTakeOrWait(out T item)
    {
        lock (_gate)
        {
            while (!TakeLocked(out item))
            {
                if (_completed) return false;
                _waiting++;
                try { Monitor.Wait(_gate); }
                finally { _waiting--; }
            }
            return true;
        }
    }

    /// <summary>No more items will be added; waiting consumers return once the queue is empty.</summary>
    public void CompleteAdding()
    {
        lock (_gate)
        {
            _completed = true;
            Monitor.PulseAll(_gate);
        }
    }

    private bool TakeLocked(out T item)
    {
        if (_items.Count == 0)
        {
            item = default!;
            return false;
        }
        item = _items.Dequeue();
        _count = _items.Count;
        return true;
    }
}

/// <summary>An auto-reset signal whose waiter blocks without spinning; setting it twice wakes the waiter once.</summary>
internal sealed class QuietSignal
{
    private readonly object _gate = new();
    private bool _set;

    public void Set()
    {
        lock (_gate)
        {
            if (_set) return;
            _set = true;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Waits until the signal is set or the timeout passes; true when it was set (and resets it).</summary>
    public bool Wait(TimeSpan timeout)
    {
        lock (_gate)
        {
            if (!_set) Monitor.Wait(_gate, timeout);
            var wasSet = _set;
            _set = false;
            return wasSet;
        }
    }
}

internal static class QuietTask
{
    /// <summary>The result of a task, waiting for it without spinning (unlike <c>GetAwaiter().GetResult()</c>).</summary>
    public static T Result<T>(Task<T> task)
    {
        if (!task.IsCompleted)
        {
            // Not disposed: the continuation may still be inside Set when Wait returns. It holds no handle.
            var done = new ManualResetEventSlim(false, spinCount: 0);
            task.ContinueWith(static (_, state) => ((ManualResetEventSlim)state!).Set(), done,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            done.Wait();
        }
        return task.GetAwaiter().GetResult();
    }
}

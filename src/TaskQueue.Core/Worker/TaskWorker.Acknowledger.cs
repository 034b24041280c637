using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>The acknowledger: writes success records in batches, and rides out Redis outages for one lease time.</summary>
public sealed partial class TaskWorker
{
    private sealed class Completion
    {
        public Completion(LeasedTask task, TaskResult result, string? uniqueKey)
        {
            Task = task;
            Result = result;
            UniqueKey = uniqueKey;
        }

        public LeasedTask Task { get; }
        public TaskResult Result { get; }
        public string? UniqueKey { get; }
    }

    /// <summary>
    /// Writes success records in batches, one script call per queue per batch: while a batch is on its way,
    /// the next one gathers. Rides out a Redis outage for up to one lease time, as every acknowledgement does.
    /// </summary>
    private void AcknowledgeLoop()
    {
        var batch = new List<Completion>();
        while (_completions.TryTakeOrWait(out var first))
        {
            batch.Clear();
            batch.AddRange(first);
            while (batch.Count < 500 && _completions.TryTake(out var more)) batch.AddRange(more);
            foreach (var group in batch.GroupBy(c => c.Task.Queue))
            {
                var items = group.ToList();
                bool[]? written = null;
                try
                {
                    written = WriteWithRetry(() => _broker.CompleteAsync(WorkerId, items.Select(c => (c.Result, c.UniqueKey)).ToList()));
                }
                catch (Exception ex)
                {
                    _log.Error($"Could not record {items.Count} completed task(s) of queue '{group.Key}' ({ex.Message}); they run again when their lease runs out.", ex);
                }
                if (written is not null) _broker.CountFinished(group.Key, written.Count(w => w), 0);
                for (var i = 0; i < items.Count; i++)
                {
                    if (written is not null && written[i]) Interlocked.Increment(ref _succeeded);
                    else if (written is not null)
                        _log.Warning($"Task {items[i].Task.Id} of queue '{group.Key}' finished after this worker lost its lease; its outcome was dropped and the task runs again elsewhere.");
                    LetGo(items[i].Task);
                }
                Wake();
            }
        }
    }

    private T WriteWithRetry<T>(Func<Task<T>> write)
    {
        var giveUpAt = Clock.UtcNow + _options.LeaseTime;
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return QuietTask.Result(write());
            }
            catch (Exception ex) when (IsConnectionProblem(ex) && Clock.UtcNow < giveUpAt)
            {
                Thread.Sleep(backoff);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 2000));
            }
        }
    }

    /// <summary>
    /// Writes the outcome of tasks (or hands them back), then lets them go. While the write is on its way they count
    /// as awaiting their acknowledgement, so a heartbeat that finds their leases already gone does not call them lost.
    /// </summary>
    private T Finishing<T>(IReadOnlyCollection<LeasedTask> tasks, Func<T> write)
    {
        foreach (var task in tasks) _awaitingAck[task] = 0;
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
    /// The worker is done with a task whose outcome was written. Released before it stops awaiting its
    /// acknowledgement: the heartbeat, which may have renewed the lease just as the outcome was written, must never
    /// see it held and not awaiting (lost).
    /// </summary>
    private void LetGo(LeasedTask task)
    {
        Release(task);
        _awaitingAck.TryRemove(task, out _);
        Interlocked.Exchange(ref _lastOutcome, Stopwatch.GetTimestamp());
    }

    /// <summary>Writes an outcome, riding out a Redis outage for up to one lease time. False when the lease was lost.</summary>
    private bool Acknowledge(LeasedTask leased, Func<Task<bool>> write)
    {
        if (WriteWithRetry(write)) return true;
        _log.Warning($"Task {leased.Id} of queue '{leased.Queue}' finished after this worker lost its lease; its outcome was dropped and the task runs again elsewhere.");
        return false;
    }
}

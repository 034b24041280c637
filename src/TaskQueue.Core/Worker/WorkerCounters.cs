using System;
using System.Diagnostics;
using System.Threading;

namespace TaskQueue.Core.Worker;

/// <summary>
/// What a worker did so far, counted by its slots and its acknowledger and read while it runs (progress, the
/// heartbeat, the summary); and the recent task duration that sizes its buffer.
/// </summary>
internal sealed class WorkerCounters
{
    private long _processed;
    private long _succeeded;
    private long _failed;
    private long _retried;
    private long _handedBack;
    private long _averageTaskTicks;
    // Stopwatch timestamps of the first fetch that leased a task (0: none yet) and of the last outcome written.
    private long _firstFetch;
    private long _lastOutcome;

    public long Processed => Interlocked.Read(ref _processed);
    public void AddProcessed() => Interlocked.Increment(ref _processed);
    public void AddSucceeded() => Interlocked.Increment(ref _succeeded);
    public void AddFailed() => Interlocked.Increment(ref _failed);
    public void AddRetried() => Interlocked.Increment(ref _retried);
    public void AddHandedBack(long count) => Interlocked.Add(ref _handedBack, count);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> _versionsMet = new();

    /// <summary>True the first time this worker meets a task of envelope version <paramref name="version"/> it cannot run (it warns once).</summary>
    public bool FirstMetVersion(int version) => _versionsMet.TryAdd(version, true);

    /// <summary>The moving average of a task's time on its slot (ticks; 0 before the first task).</summary>
    public long AverageTaskTicks => Interlocked.Read(ref _averageTaskTicks);

    /// <summary>Folds one task's time on its slot into the moving average (weight 1/16) that sizes the buffer.</summary>
    public void RecordTaskTime(TimeSpan elapsed)
    {
        var average = Interlocked.Read(ref _averageTaskTicks);
        var next = average <= 0 ? elapsed.Ticks : average + (elapsed.Ticks - average) / 16;
        // Slots race here; losing an update now and then only makes the average a little less smooth.
        Interlocked.Exchange(ref _averageTaskTicks, Math.Max(1, next));
    }

    /// <summary>A fetch asked at <paramref name="askedAt"/> (a Stopwatch timestamp) leased tasks; the first one counts.</summary>
    public void FetchLeased(long askedAt) => Interlocked.CompareExchange(ref _firstFetch, askedAt, 0);

    /// <summary>An outcome (success or failure record, or a hand-back) was written now.</summary>
    public void OutcomeWritten() => Interlocked.Exchange(ref _lastOutcome, Stopwatch.GetTimestamp());

    /// <summary>Sets the task counts of <paramref name="summary"/> to these, and returns it.</summary>
    public WorkerSummary CopyTo(WorkerSummary summary)
    {
        summary.Processed = Interlocked.Read(ref _processed);
        summary.Succeeded = Interlocked.Read(ref _succeeded);
        summary.Failed = Interlocked.Read(ref _failed);
        summary.Retried = Interlocked.Read(ref _retried);
        summary.HandedBack = Interlocked.Read(ref _handedBack);
        var first = Interlocked.Read(ref _firstFetch);
        var last = Interlocked.Read(ref _lastOutcome);
        if (first != 0 && last > first) summary.ProcessingTime = Between(first, last);
        return summary;
    }

    /// <summary>The time between two <see cref="Stopwatch.GetTimestamp"/> readings.</summary>
    public static TimeSpan Between(long from, long to) =>
        TimeSpan.FromTicks((long)((to - from) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency));
}

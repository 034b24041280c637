using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Jobs;

/// <summary>
/// The progress bar of a foreground worker: what it processed so far and what is still pending. A burst worker shows
/// how far through its queues it is; a serving worker shows its counts only. Updated at most once a second, and only
/// when the counts moved, so an idle worker writes nothing.
/// </summary>
internal sealed class WorkerProgress
{
    /// <summary>How often the counts are read at most.</summary>
    public static readonly TimeSpan UpdateEvery = TimeSpan.FromSeconds(1);
    /// <summary>The longest a pending count may take; past it the bar shows the worker's own counts only.</summary>
    private static readonly TimeSpan CountTimeout = TimeSpan.FromMilliseconds(200);
    private const int ActivityId = 0x5451;

    private readonly TaskWorker _worker;
    private readonly RedisBroker _broker;
    private readonly bool _burst;
    private readonly string[] _queues;
    private readonly string _activity;
    private long _shownProcessed = -1;
    private long _shownAt;

    public WorkerProgress(TaskWorker worker, RedisBroker broker, bool burst)
    {
        _worker = worker;
        _broker = broker;
        _burst = burst;
        _queues = worker.Snapshot().Queues;
        var queues = string.Join(", ", _queues);
        _activity = burst ? $"Draining {queues}" : $"Serving {queues}";
    }

    /// <summary>How long the cmdlet may wait for a worker message before it looks at the progress again.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    /// <summary>A record to write when an update is due: the first one, then once the counts moved and a second passed.</summary>
    public bool Due(out ProgressRecord record)
    {
        record = null!;
        var now = Stopwatch.GetTimestamp();
        var counts = _worker.Snapshot();
        if (_shownProcessed >= 0 && (counts.Processed == _shownProcessed || now - _shownAt < UpdateEvery.TotalSeconds * Stopwatch.Frequency))
            return false;
        _shownProcessed = counts.Processed;
        _shownAt = now;
        var pending = Pending();
        var status = string.Format(CultureInfo.CurrentCulture, "{0:N0} processed: {1:N0} succeeded, {2:N0} failed, {3:N0} to retry",
            counts.Processed, counts.Succeeded, counts.Failed, counts.Retried);
        if (pending is { } left) status += string.Format(CultureInfo.CurrentCulture, "; {0:N0} pending", left);
        record = new ProgressRecord(ActivityId, _activity, status);
        if (_burst && pending is { } remaining && counts.Processed + remaining > 0)
            record.PercentComplete = (int)Math.Min(100, counts.Processed * 100 / (counts.Processed + remaining));
        return true;
    }

    /// <summary>The record that takes the bar away once the worker stopped.</summary>
    public ProgressRecord Completed() => new(ActivityId, _activity, "Stopped") { RecordType = ProgressRecordType.Completed };

    /// <summary>Tasks waiting in or leased from the worker's queues; null when Redis does not answer in time.</summary>
    private long? Pending()
    {
        try
        {
            var counts = Task.WhenAll(_queues.Select(q => _broker.Reads.CountAsync(q)));
            if (!counts.Wait(CountTimeout)) return null;
            return counts.Result.Sum(c => c.Pending + c.Active);
        }
        catch (Exception)
        {
            return null;
        }
    }
}

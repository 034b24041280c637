using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using TaskQueue.Core.Model;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Waits for tasks to finish: writes the success record of each, and for each failed one a non-terminating
/// error carrying its failure record. One wait covers all the tasks piped in.
/// </summary>
[Cmdlet(VerbsLifecycle.Wait, "TqTask")]
[OutputType(typeof(SuccessRecord))]
public sealed class WaitTqTaskCommand : TaskIdCmdlet
{
    private static readonly TimeSpan MaxPollInterval = TimeSpan.FromMilliseconds(500);

    private readonly List<(string Queue, string Id)> _tasks = new();
    private readonly CancellationTokenSource _stop = new();

    /// <summary>How long to wait in all (a TimeSpan, or seconds); by default, until every task finished.</summary>
    [Parameter]
    [TimeSpanTransformation]
    public TimeSpan? Timeout { get; set; }

    /// <summary>Return as soon as one of the tasks finished.</summary>
    [Parameter]
    public SwitchParameter Any { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var id in Id) _tasks.Add((Queue, id));
    }

    protected override void EndProcessing()
    {
        var waiting = _tasks.Distinct().ToList();
        var total = waiting.Count;
        var deadline = Timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        var interval = TimeSpan.FromMilliseconds(10);
        while (waiting.Count > 0 && !_stop.IsCancellationRequested)
        {
            var finishedAny = false;
            foreach (var group in waiting.GroupBy(w => w.Queue).ToList())
            {
                var ids = group.Select(g => g.Id).ToList();
                var states = Run(b => b.Reads.GetOutcomesAsync(group.Key, ids));
                var succeeded = ids.Where((_, i) => states[i] == TaskState.Succeeded).ToList();
                var failed = ids.Where((_, i) => states[i] == TaskState.Failed).ToList();
                var unknown = ids.Where((_, i) => states[i] == TaskState.Unknown).ToList();
                if (succeeded.Count > 0)
                    foreach (var result in Run(b => b.Reads.GetResultsAsync(group.Key, succeeded.Count, succeeded))) WriteObject(SuccessRecord.From(result));
                if (failed.Count > 0)
                {
                    foreach (var failure in Run(b => b.Reads.GetFailuresAsync(group.Key, failed.Count, failed)))
                    {
                        var record = FailureRecord.From(failure);
                        WriteError(new ErrorRecord(new InvalidOperationException($"Task {record.Id} of queue '{record.Queue}' failed: {record.Message}"),
                            "TaskFailed", ErrorCategory.OperationStopped, record));
                    }
                }
                foreach (var id in unknown)
                    WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{group.Key}' has no task with id {id} (it never existed, or its record expired)."),
                        "TaskNotFound", ErrorCategory.ObjectNotFound, id));
                var done = new HashSet<string>(succeeded.Concat(failed).Concat(unknown));
                WarnFailedAttempts(group.Key, ids.Where(id => !done.Contains(id)).ToList());
                ShowTaskProgress(group.Key, ids.Where(id => !done.Contains(id)).ToList(), total);
                if (done.Count > 0)
                {
                    finishedAny = true;
                    waiting.RemoveAll(w => w.Queue == group.Key && done.Contains(w.Id));
                }
            }
            if (DateTime.UtcNow >= _nextRetryCheck) _nextRetryCheck = DateTime.UtcNow.AddSeconds(1);
            if (DateTime.UtcNow >= _nextProgressCheck) _nextProgressCheck = DateTime.UtcNow.AddMilliseconds(500);
            if (total > 1)
                WriteProgress(new ProgressRecord(1, "Waiting for tasks", $"{total - waiting.Count} of {total} finished")
                    { PercentComplete = (total - waiting.Count) * 100 / total });
            if (Any && finishedAny) break;
            if (waiting.Count == 0) break;
            if (DateTime.UtcNow >= deadline)
            {
                foreach (var (queue, id) in waiting)
                    WriteError(new ErrorRecord(new TimeoutException($"Task {id} of queue '{queue}' did not finish within {Timeout!.Value.TotalSeconds:0.###} s."),
                        "WaitTimedOut", ErrorCategory.OperationTimeout, id));
                break;
            }
            // Finished tasks are looked up in one batch per round; the round slows down while nothing finishes.
            interval = finishedAny ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromTicks(Math.Min(MaxPollInterval.Ticks, interval.Ticks * 2));
            var left = deadline - DateTime.UtcNow;
            _stop.Token.WaitHandle.WaitOne(left < interval ? left : interval);
        }
        if (total > 1) WriteProgress(new ProgressRecord(1, "Waiting for tasks", "Done") { RecordType = ProgressRecordType.Completed });
        foreach (var shown in _progressIds.Values)
            WriteProgress(new ProgressRecord(shown, "Task", "Done") { RecordType = ProgressRecordType.Completed });
    }

    /// <summary>Most tasks whose own progress (Write-Progress in the task) a wait shows; beyond it, only the count finished.</summary>
    private const int MaxTasksShowingProgress = 16;
    private readonly Dictionary<(string Queue, string Id), Core.Broker.TaskLogCursor> _cursors = new();
    // (task, its activity id) -> the activity id shown here.
    private readonly Dictionary<(string Id, int Activity), int> _progressIds = new();
    private DateTime _nextProgressCheck;

    /// <summary>
    /// The progress the tasks waited for write (their stream logs' Progress entries), shown as progress bars here, read
    /// about twice a second while at most <see cref="MaxTasksShowingProgress"/> tasks are waited for and progress is shown.
    /// </summary>
    private void ShowTaskProgress(string queue, IReadOnlyList<string> ids, int total)
    {
        if (ids.Count == 0 || total > MaxTasksShowingProgress || DateTime.UtcNow < _nextProgressCheck) return;
        if (GetVariableValue("ProgressPreference") is ActionPreference.SilentlyContinue or ActionPreference.Ignore) return;
        foreach (var id in ids)
        {
            if (!_cursors.TryGetValue((queue, id), out var cursor)) _cursors[(queue, id)] = cursor = new Core.Broker.TaskLogCursor(Broker, queue, id);
            foreach (var entry in Run(_ => cursor.ReadAsync()))
            {
                if (entry.Stream != TaskStreamEntry.Progress) continue;
                var key = (id, entry.ActivityId ?? 0);
                if (!_progressIds.TryGetValue(key, out var shown)) _progressIds[key] = shown = 100 + _progressIds.Count;
                var record = ReceiveTqTaskCommand.ProgressOf(entry, shown);
                if (total > 1) record.ParentActivityId = 1;
                WriteProgress(record);
            }
        }
    }

    protected override void StopProcessing() => _stop.Cancel();

    // The failed attempts already warned of: task id -> attempt number.
    private readonly Dictionary<string, int> _warned = new();
    private DateTime _nextRetryCheck;

    /// <summary>A warning for each attempt that failed of a task still waited for (it will be retried), once per attempt, checked about once a second.</summary>
    private void WarnFailedAttempts(string queue, IReadOnlyList<string> ids)
    {
        if (ids.Count == 0 || DateTime.UtcNow < _nextRetryCheck) return;
        foreach (var error in Run(b => b.Reads.GetRetryingAsync(queue, ids)))
        {
            if (_warned.TryGetValue(error.Id, out var attempt) && attempt >= error.Attempts) continue;
            _warned[error.Id] = error.Attempts;
            var next = error.RetryAt is { } at ? $"; attempt {error.Attempts + 1} at {at.ToLocalTime():HH:mm:ss}" : "";
            WriteWarning($"Task {error.Id} of queue '{queue}' failed attempt {error.Attempts}{next}: {error.Message} (Get-TqFailure shows it; Retry-TqTask runs it now; Stop-TqTask gives up).");
        }
    }
}

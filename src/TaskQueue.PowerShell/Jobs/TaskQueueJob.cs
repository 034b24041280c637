using System;
using System.Management.Automation;
using System.Threading;
using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Jobs;

/// <summary>
/// A worker or a dashboard running on a background thread of this session, as a job that Get-Job, Wait-Job,
/// Receive-Job and Stop-Job understand. Stop-Job stops it gracefully (a worker's running tasks drain or go back).
/// </summary>
public sealed class TaskQueueJob : Job, IWorkerLog
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ManualResetEventSlim _finished = new(false);

    internal TaskQueueJob(string command, string? name, string jobTypeName = "TaskQueueWorker") : base(command, name)
    {
        PSJobTypeName = jobTypeName;
    }

    public override string Location => Environment.MachineName;
    public override string StatusMessage => "";
    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Warning.Count > 0 || Verbose.Count > 0 || Information.Count > 0;

    internal void Start(Func<CancellationToken, object?> run)
    {
        // SIGTERM stops the worker gracefully, as Stop-Job does.
        var sigterm = TerminationSignal.Handle(() => _stop.Cancel());
        SetJobState(JobState.Running);
        var thread = new Thread(() =>
        {
            var state = JobState.Completed;
            try
            {
                var result = run(_stop.Token);
                if (result is not null) Output.Add(PSObject.AsPSObject(result));
                if (_stop.IsCancellationRequested) state = JobState.Stopped;
            }
            catch (Exception ex)
            {
                Error.Add(new ErrorRecord(ex, "WorkerFailed", ErrorCategory.NotSpecified, null));
                state = JobState.Failed;
            }
            finally
            {
                sigterm?.Dispose();
                // State first, so Stop-Job returns to a finished job; a job removed meanwhile is disposed, and that is fine.
                try { SetJobState(state); }
                catch (ObjectDisposedException) { }
                _finished.Set();
            }
        }) { IsBackground = true, Name = "tq-job" };
        thread.Start();
    }

    public override void StopJob()
    {
        if (_finished.IsSet) return;
        SetJobState(JobState.Stopping);
        _stop.Cancel();
        _finished.Wait();
    }

    void IWorkerLog.Info(string message) => Information.Add(new InformationRecord(message, "TaskQueue") { Tags = { "TaskQueue", "Worker" } });
    void IWorkerLog.Task(TaskLogEntry entry) => Information.Add(new InformationRecord(entry.ToString(), "TaskQueue") { Tags = { "TaskQueue", "Task", entry.Outcome } });
    void IWorkerLog.Verbose(string message) => Verbose.Add(new VerboseRecord(message));
    void IWorkerLog.Warning(string message) => Warning.Add(new WarningRecord(message));
    void IWorkerLog.Error(string message, Exception? exception) =>
        Error.Add(new ErrorRecord(exception ?? new InvalidOperationException(message), "WorkerError", ErrorCategory.NotSpecified, null) { ErrorDetails = new ErrorDetails(message) });

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_finished.IsSet)
        {
            // Remove-Job -Force on a running worker: stop it gracefully before the job goes away.
            _stop.Cancel();
            _finished.Wait();
        }
        base.Dispose(disposing);
    }
}

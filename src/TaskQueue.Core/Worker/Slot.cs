using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>
/// One slot: a thread with its own executor (runspace) that takes leased tasks, runs them, and hands their outcomes
/// to the acknowledger: success records in batches, failed attempts at once. A suspect task runs alone.
/// Stop-TqTask reaches the task it runs through <see cref="CancelIfRunning"/>.
/// </summary>
internal sealed class Slot
{
    private readonly SlotContext _w;
    private readonly object _gate = new();
    // The token that stops the running task: it lasts from task to task (linked to the worker's interruption once
    // per slot, not once per task) until a cancellation uses it up.
    private CancellationTokenSource _cancel;
    private LeasedTask? _running;

    public Slot(int index, SlotContext context)
    {
        Index = index;
        _w = context;
        if (context.Options.CaptureStreams) Streams = new StreamLog(context.Broker.Logs, context.Broker.Clock, context.Broker.Options);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(context.Interrupt);
    }

    public int Index { get; }

    /// <summary>The stream log of the task this slot runs; null when the worker keeps none.</summary>
    public StreamLog? Streams { get; }

    /// <summary>
    /// Most success records a slot keeps before it hands them to the acknowledger. Each hand-over wakes the
    /// acknowledger and costs a script call whose reply the thread pool handles: on two cores shared with Redis,
    /// batches of 128 rather than 32 raised the one-runspace rate by about a quarter, and 256 within 10 ms rather
    /// than 128 within 5 ms (with a buffer of 20 rather than 10 ms of work) by about a tenth more.
    /// </summary>
    public const int MaxHandOver = 256;
    /// <summary>The longest a success record waits in a slot for others to join its batch.</summary>
    public static readonly TimeSpan HandOverWithin = TimeSpan.FromMilliseconds(10);
    /// <summary>When tasks take longer than this on average, each success record is handed over at once.</summary>
    public static readonly TimeSpan HandOverAtOnceAfter = TimeSpan.FromMilliseconds(1);

    private IClock Clock => _w.Broker.Clock;

    public Thread Start()
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = $"tq-slot-{Index}" };
        thread.Start();
        return thread;
    }

    /// <summary>Stops <paramref name="task"/> if this slot runs it now.</summary>
    public void CancelIfRunning(LeasedTask task)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_running, task)) _cancel.Cancel();
        }
    }

    /// <summary>The slot starts <paramref name="task"/>; returns the token that stops it.</summary>
    private CancellationToken Begin(LeasedTask task)
    {
        lock (_gate)
        {
            // Used up by the cancellation of an earlier task (not by the worker's interruption, which stops all).
            if (_cancel.IsCancellationRequested && !_w.Interrupt.IsCancellationRequested)
            {
                _cancel.Dispose();
                _cancel = CancellationTokenSource.CreateLinkedTokenSource(_w.Interrupt);
            }
            _running = task;
            return _cancel.Token;
        }
    }

    private void End()
    {
        lock (_gate) _running = null;
    }

    private void Loop()
    {
        ITaskExecutor? executor = null;
        // Success records of this slot not yet handed to the acknowledger: handed over in one go, so that the
        // acknowledger wakes once per batch rather than once per task.
        var unacknowledged = new List<Completion>();
        // When the oldest of them was done (Stopwatch timestamp).
        long oldestDone = 0;
        try
        {
            // Open the runspace before the first fetch, so that leased tasks do not wait for it. Should it fail, the
            // slot tries again with each task, and reports the problem against the task.
            try
            {
                executor = _w.ExecutorFactory();
            }
            catch (Exception ex)
            {
                _w.Log.Warning($"A slot could not open its runspace ({ex.Message}); it tries again with its first task.");
            }
            finally
            {
                _w.Opening.Signal();
            }
            while (true)
            {
                if (!_w.Ready.TryTake(out var task))
                {
                    // Nothing buffered: hand over what is done before waiting for more.
                    HandOver(unacknowledged);
                    if (!_w.Ready.TryTakeOrWait(out task)) break;
                }
                try
                {
                    if (_w.Stopping())
                    {
                        _w.Acknowledger.HandBack(task.Queue, new[] { task });
                        continue;
                    }
                    if (task.Recoveries > 0) _w.Book.WaitToRunAlone(task, _w.Stopping);
                    executor ??= _w.ExecutorFactory();
                    var started = Stopwatch.GetTimestamp();
                    executor = RunOne(task, executor, unacknowledged);
                    var finished = Stopwatch.GetTimestamp();
                    _w.Counters.RecordTaskTime(WorkerCounters.Between(started, finished));
                    if (unacknowledged.Count == 1) oldestDone = finished;
                    // Short tasks hand over in batches, none held back longer than a few milliseconds; after a
                    // longer task, at once, so its record is not held back by the next one.
                    if (unacknowledged.Count >= MaxHandOver
                        || WorkerCounters.Between(oldestDone, finished) >= HandOverWithin
                        || _w.Counters.AverageTaskTicks > HandOverAtOnceAfter.Ticks)
                        HandOver(unacknowledged);
                }
                catch (Exception ex)
                {
                    // The task stays leased and comes back through recovery; the slot keeps serving.
                    _w.Log.Error($"Task {task.Id} of queue '{task.Queue}' could not be recorded: {ex.Message}", ex);
                }
                finally
                {
                    _w.Book.ReleaseUnlessFinishing(task);
                    _w.TaskLeft();
                }
            }
        }
        finally
        {
            HandOver(unacknowledged);
            executor?.Dispose();
        }
    }

    private void HandOver(List<Completion> unacknowledged)
    {
        if (unacknowledged.Count == 0) return;
        // Only a slot that outlived the shutdown (its task ignored every stop) finds the acknowledger gone.
        if (!_w.Acknowledger.TryAdd(unacknowledged.ToArray()))
            _w.Log.Warning($"{unacknowledged.Count} task(s) finished after the worker stopped; they were not recorded and run again when their lease runs out.");
        unacknowledged.Clear();
    }

    /// <summary>How long a task handed back for its envelope version waits before a worker may lease it again.</summary>
    internal static readonly TimeSpan VersionHandBackDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A task of an envelope version this worker cannot read (a newer sender) is not failed: it goes back, scheduled a few
    /// seconds ahead, unrun and its attempt not counted, so that a newer worker of a fleet being upgraded takes it.
    /// </summary>
    private void HandBackForVersion(LeasedTask leased, UnsupportedVersionException ex)
    {
        if (_w.Counters.FirstMetVersion(ex.Version))
            _w.Log.Warning($"Task {leased.Id} of queue '{leased.Queue}' has envelope version {ex.Version}, newer than this worker reads ({TaskEnvelope.CurrentVersion}): it was handed back for a newer worker, as are others like it (counted in Get-TqQueue's HandedBackForVersion). Upgrade this worker's TaskQueue module.");
        try
        {
            var moved = _w.Broker.DeferAsync(leased.Queue, _w.WorkerId, new[] { leased.Id }, Clock.UtcNow + VersionHandBackDelay).GetAwaiter().GetResult();
            if (moved > 0)
            {
                _w.Broker.Statistics.CountHandedBackForVersion(leased.Queue, moved);
                _w.Counters.AddHandedBack(moved);
            }
        }
        catch (Exception error)
        {
            // The lease stays; recovery gives the task back when it runs out.
            _w.Log.Error($"Task {leased.Id} of queue '{leased.Queue}' could not be handed back for its version: {error.Message}", error);
        }
    }

    /// <summary>A task is started only with this much of its lease left (a third of the lease, at most a second).</summary>
    private long StartMarginMs => (long)Math.Min(1000, _w.Options.LeaseTime.TotalMilliseconds / 3);

    private ITaskExecutor? RunOne(LeasedTask leased, ITaskExecutor? executor, List<Completion> unacknowledged)
    {
        var startedAt = Clock.UtcNow;
        TaskEnvelope envelope;
        try
        {
            envelope = leased.ReadEnvelope();
        }
        catch (UnsupportedVersionException ex)
        {
            HandBackForVersion(leased, ex);
            return executor;
        }
        catch (MalformedTaskException ex)
        {
            RecordFailure(leased, null, startedAt, new TaskError { Reason = FailureReasons.MalformedTask, Permanent = true, Message = ex.Message });
            return executor;
        }
        catch (Security.BadSignatureException ex)
        {
            _w.Broker.Statistics.CountBadSignature(leased.Queue);
            RecordFailure(leased, null, startedAt, new TaskError { Reason = FailureReasons.BadSignature, Permanent = true, Message = ex.Message });
            return executor;
        }
        if (Security.TaskFreshness.Expired(envelope, startedAt, _w.Options.MaxTaskAge) is { } expired)
        {
            RecordFailure(leased, envelope, startedAt, new TaskError { Reason = FailureReasons.Expired, Permanent = true, Message = expired });
            return executor;
        }
        if (leased.Recoveries >= _w.Options.MaxRecoveries)
        {
            RecordFailure(leased, envelope, startedAt, new TaskError
            {
                Reason = FailureReasons.WorkerLost,
                Permanent = true,
                Message = $"The worker died while running this task {leased.Recoveries} time(s) (its process exited, crashed or was killed, and the lease ran out), so it is not run again. A task that exits or crashes its worker process does this; Retry-TqTask runs it again.",
            });
            return executor;
        }
        if (_w.Book.TakeCancelRequest(leased))
        {
            RecordFailure(leased, envelope, startedAt, Canceled());
            return executor;
        }
        if (leased.Attempt > envelope.MaxAttempts)
        {
            RecordFailure(leased, envelope, startedAt, new TaskError
            {
                Reason = FailureReasons.WorkerLost,
                Permanent = true,
                Message = $"Gave up before attempt {leased.Attempt}: the task allows {envelope.MaxAttempts} attempt(s), and the last ones ended without a result because the worker running them stopped or lost its lease.",
            });
            return executor;
        }

        // A task that waited for others gets their outcomes ($TqDependencies), read as it starts. With a keyring, only
        // records whose proof verifies count, and the task runs only when they show its dependencies settled as its
        // policy needs: a task pushed to pending early, or a forged record, never runs it (DependencyNotMet).
        if (envelope.DependsOn is { Count: > 0 } && envelope.Dependencies is null)
        {
            var keyring = _w.Options.Signatures?.Keyring;
            envelope.Dependencies = DependencyRecords.Read(_w.Broker, envelope.DependsOn, keyring);
            if (keyring is not null && DependencyRecords.Unmet(envelope) is { } unmet)
            {
                RecordFailure(leased, envelope, startedAt, new TaskError { Reason = FailureReasons.DependencyNotMet, Permanent = true, Message = unmet });
                return executor;
            }
        }

        // Last thing before it runs (a runspace may have been made, dependencies read): its lease ran out, or is about
        // to, while it waited (the worker was stopped or cut off from Redis): another worker, whose reading of Redis's
        // clock may differ from this one's by a little, may run it already. Handed back only if Redis says it is still
        // this worker's.
        if (leased.LeaseEndsMs <= Clock.UtcNow.ToUnixMs() + StartMarginMs || !StillHeld(leased))
        {
            _w.Log.Warning($"Task {leased.Id} of queue '{leased.Queue}' was not started: its lease ran out while it waited for a slot (was this worker stopped or cut off from Redis?).");
            _w.Acknowledger.HandBack(leased.Queue, new[] { leased });
            return executor;
        }

        ExecutionOutcome outcome;
        var cancel = Begin(leased);
        // A cancellation that arrived while the task was being set up.
        if (_w.Book.IsCancelRequested(leased)) CancelIfRunning(leased);
        Streams?.Begin(leased.Queue, leased.Id, leased.Attempt);
        try
        {
            outcome = executor!.Execute(envelope, leased.Attempt, Streams, cancel);
        }
        catch (Exception ex)
        {
            outcome = new ExecutionOutcome
            {
                ExecutorBroken = true,
                Error = new TaskError { Reason = FailureReasons.Exception, Message = "The executor failed: " + ex.Message, ExceptionType = ex.GetType().FullName },
            };
        }
        finally
        {
            End();
        }
        // Sent before the task's record is written (on the same connection): a reader that sees the task ended has its whole log.
        Streams?.End(outcome.Succeeded);
        if (outcome.ExecutorBroken)
        {
            _w.Log.Warning($"Replacing the runspace of a slot after task {leased.Id}: the task did not stop when asked, so its runspace is abandoned.");
            var broken = executor!;
            // Disposing a runspace whose pipeline ignores Stop can block; never on a slot or pool thread.
            new Thread(() => { try { broken.Dispose(); } catch (Exception) { } }) { IsBackground = true, Name = "tq-abandoned" }.Start();
            executor = _w.ExecutorFactory();
        }
        else if (outcome.ReplaceExecutor)
        {
            // The next task of this slot opens a new one.
            executor!.Dispose();
            executor = null;
        }
        if (_w.Book.TakeCancelRequest(leased))
        {
            RecordFailure(leased, envelope, startedAt, Canceled());
            return executor;
        }
        if (outcome.Interrupted)
        {
            _w.Acknowledger.HandBack(leased.Queue, new[] { leased });
            return executor;
        }
        _w.Counters.AddProcessed();
        if (outcome.Succeeded)
        {
            var result = new TaskResult
            {
                Id = leased.Id,
                Queue = ShardRouter.Logical(leased.Queue),
                Label = envelope.Label,
                Worker = _w.WorkerId,
                WorkerName = _w.WorkerName,
                Attempts = leased.Attempt,
                EnqueuedAt = envelope.EnqueuedAt,
                StartedAt = startedAt,
                CompletedAt = Clock.UtcNow,
                Output = outcome.OutputJson,
                Warnings = NullIfEmpty(outcome.Warnings),
                Information = NullIfEmpty(outcome.Information),
                Errors = NullIfEmpty(outcome.Errors),
                Args = RecordArguments.Of(envelope.Args, out var argsCut),
                Params = RecordArguments.Of(envelope.Params, out var paramsCut),
            };
            if (argsCut || paramsCut) result.Truncated = true;
            if (_w.Options.TaskLog == TaskLogLevel.All) LogOutcome(leased, envelope, "Succeeded", result.CompletedAt - startedAt, null, null);
            // Written by the acknowledger, batched with other completions, while this slot runs the next task.
            _w.Book.BeginFinishing(leased);
            unacknowledged.Add(new Completion(leased, result, envelope.UniqueKey));
            leased.ForgetEnvelope();
        }
        else
        {
            var error = outcome.Error ?? new TaskError { Message = "The task failed without an error message." };
            error.Output ??= outcome.OutputJson;
            error.Warnings ??= NullIfEmpty(outcome.Warnings);
            error.Information ??= NullIfEmpty(outcome.Information);
            error.Errors ??= NullIfEmpty(outcome.Errors);
            RecordFailure(leased, envelope, startedAt, error);
        }
        return executor;
    }

    /// <summary>
    /// Within a lease time of Redis failing this worker or answering it late (a stall, a cut line), what the worker
    /// believes of a lease is not enough: another worker may have recovered the task meanwhile, so Redis is asked
    /// whether the lease is still this worker's before the task starts (two reads; never in steady operation). A
    /// Redis that cannot say counts as no.
    /// </summary>
    private bool StillHeld(LeasedTask leased)
    {
        if (!_w.Book.TroubledWithin(_w.Options.LeaseTime)) return true;
        try
        {
            return _w.Broker.Reads.HoldsLeaseAsync(leased.Queue, leased.Id, _w.WorkerId, Clock.UtcNow.ToUnixMs() + StartMarginMs).GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            return false;
        }
    }

    private void RecordFailure(LeasedTask leased, TaskEnvelope? envelope, DateTimeOffset startedAt, TaskError error)
    {
        error.Id = leased.Id;
        error.Queue = ShardRouter.Logical(leased.Queue);
        error.Worker = _w.WorkerId;
        error.WorkerName = _w.WorkerName;
        error.Attempts = leased.Attempt;
        error.StartedAt = startedAt;
        error.FailedAt = Clock.UtcNow;
        if (envelope is not null)
        {
            error.Args = RecordArguments.Of(envelope.Args, out var argsCut);
            error.Params = RecordArguments.Of(envelope.Params, out var paramsCut);
            if (argsCut || paramsCut) error.Truncated = true;
        }
        var maxAttempts = Math.Min(envelope?.MaxAttempts ?? 1, _w.AttemptCap(leased.Queue));
        DateTimeOffset? retryAt = null;
        if (!error.Permanent && leased.Attempt < maxAttempts)
            retryAt = error.FailedAt + _w.RetryPolicy.DelayAfter(leased.Attempt);
        if (envelope is null) _w.Counters.AddProcessed();
        if (!_w.Acknowledger.WriteFailure(leased, error, retryAt, envelope?.UniqueKey)) return;
        if (_w.Options.TaskLog != TaskLogLevel.None)
            LogOutcome(leased, envelope, retryAt is not null ? "Retrying" : error.Reason == FailureReasons.Canceled ? "Canceled" : "Failed", error.FailedAt - startedAt, error, retryAt);
        if (retryAt is null)
        {
            _w.Counters.AddFailed();
            _w.Broker.Statistics.CountFinished(leased.Queue, 0, 1);
            // A worker that logs failures has written the line already.
            if (_w.Options.TaskLog == TaskLogLevel.None)
                _w.Log.Warning($"Task {leased.Id} of queue '{leased.Queue}' failed for good after {leased.Attempt} attempt(s): {error.Message}");
        }
        else
        {
            _w.Counters.AddRetried();
            _w.Log.Verbose($"Task {leased.Id} of queue '{leased.Queue}' failed attempt {leased.Attempt} of {maxAttempts}; retry at {retryAt:u}: {error.Message}");
        }
    }

    private void LogOutcome(LeasedTask leased, TaskEnvelope? envelope, string outcome, TimeSpan duration, TaskError? error, DateTimeOffset? retryAt) =>
        _w.Log.Task(new TaskLogEntry
        {
            Time = Clock.UtcNow,
            Outcome = outcome,
            Id = leased.Id,
            Queue = ShardRouter.Logical(leased.Queue),
            Name = envelope?.Label ?? "",
            Attempt = leased.Attempt,
            Duration = duration,
            Reason = error?.Reason,
            Message = error?.Message,
            RetryAt = retryAt,
        });

    private static TaskError Canceled() => new()
    {
        Reason = FailureReasons.Canceled,
        Permanent = true,
        Message = "The task was canceled with Stop-TqTask.",
    };

    private static List<string>? NullIfEmpty(List<string>? list) => list is { Count: > 0 } ? list : null;
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>The slots: threads that run tasks with their executor and record failures; suspects run alone.</summary>
public sealed partial class TaskWorker
{
    private Thread StartSlot(int index)
    {
        var state = _slotStates[index];
        var thread = new Thread(() => SlotLoop(state)) { IsBackground = true, Name = $"tq-slot-{index}" };
        thread.Start();
        return thread;
    }

    /// <summary>
    /// What a slot runs, for Stop-TqTask to find: the task, and the token that stops it. The token lasts from task to
    /// task (linked to the worker's interruption once per slot, not once per task) until a cancellation uses it up.
    /// </summary>
    private sealed class SlotState
    {
        private readonly object _gate = new();
        private readonly CancellationToken _interrupt;
        private CancellationTokenSource _cancel;
        private LeasedTask? _running;

        public SlotState(CancellationToken interrupt)
        {
            _interrupt = interrupt;
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
        }

        /// <summary>The slot starts <paramref name="task"/>; returns the token that stops it.</summary>
        public CancellationToken Begin(LeasedTask task)
        {
            lock (_gate)
            {
                // Used up by the cancellation of an earlier task (not by the worker's interruption, which stops all).
                if (_cancel.IsCancellationRequested && !_interrupt.IsCancellationRequested)
                {
                    _cancel.Dispose();
                    _cancel = CancellationTokenSource.CreateLinkedTokenSource(_interrupt);
                }
                _running = task;
                return _cancel.Token;
            }
        }

        public void End()
        {
            lock (_gate) _running = null;
        }

        /// <summary>Stops <paramref name="task"/> if this slot runs it now.</summary>
        public void CancelIfRunning(LeasedTask task)
        {
            lock (_gate)
            {
                if (ReferenceEquals(_running, task)) _cancel.Cancel();
            }
        }
    }

    private void SlotLoop(SlotState state)
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
                executor = _executorFactory();
            }
            catch (Exception ex)
            {
                _log.Warning($"A slot could not open its runspace ({ex.Message}); it tries again with its first task.");
            }
            finally
            {
                _slotsOpening.Signal();
            }
            while (true)
            {
                if (!_ready.TryTake(out var task))
                {
                    // Nothing buffered: hand over what is done before waiting for more.
                    HandOver(unacknowledged);
                    if (!_ready.TryTakeOrWait(out task)) break;
                }
                try
                {
                    if (_stopping)
                    {
                        HandBack(task);
                        continue;
                    }
                    if (task.Recoveries > 0) WaitToRunAlone(task);
                    executor ??= _executorFactory();
                    var started = Stopwatch.GetTimestamp();
                    executor = RunOne(task, executor, state, unacknowledged);
                    var finished = Stopwatch.GetTimestamp();
                    RecordTaskTime(Between(started, finished));
                    if (unacknowledged.Count == 1) oldestDone = finished;
                    // Short tasks hand over in batches, none held back longer than a few milliseconds; after a
                    // longer task, at once, so its record is not held back by the next one.
                    if (unacknowledged.Count >= MaxHandOver
                        || Between(oldestDone, finished) >= HandOverWithin
                        || Interlocked.Read(ref _averageTaskTicks) > HandOverAtOnceAfter.Ticks)
                        HandOver(unacknowledged);
                }
                catch (Exception ex)
                {
                    // The task stays leased and comes back through recovery; the slot keeps serving.
                    _log.Error($"Task {task.Id} of queue '{task.Queue}' could not be recorded: {ex.Message}", ex);
                }
                finally
                {
                    Interlocked.Decrement(ref _inWork);
                    if (!_awaitingAck.ContainsKey(task)) Release(task);
                    // The dispatcher refills the buffer in batches: wake it only when the buffer runs low.
                    if (BufferLow) Wake();
                }
            }
        }
        finally
        {
            HandOver(unacknowledged);
            executor?.Dispose();
        }
    }

    /// <summary>
    /// Most success records a slot keeps before it hands them to the acknowledger. Each hand-over wakes the
    /// acknowledger and costs a script call whose reply the thread pool handles: on two cores shared with Redis,
    /// batches of 128 rather than 32 raised the one-runspace rate by about a quarter, and 256 within 10 ms rather
    /// than 128 within 5 ms (with a buffer of 20 rather than 10 ms of work) by about a tenth more.
    /// </summary>
    private const int MaxHandOver = 256;
    /// <summary>The longest a success record waits in a slot for others to join its batch.</summary>
    private static readonly TimeSpan HandOverWithin = TimeSpan.FromMilliseconds(10);
    /// <summary>When tasks take longer than this on average, each success record is handed over at once.</summary>
    private static readonly TimeSpan HandOverAtOnceAfter = TimeSpan.FromMilliseconds(1);

    private void HandOver(List<Completion> unacknowledged)
    {
        if (unacknowledged.Count == 0) return;
        // Only a slot that outlived the shutdown (its task ignored every stop) finds the acknowledger gone.
        if (!_completions.TryAdd(unacknowledged.ToArray()))
            _log.Warning($"{unacknowledged.Count} task(s) finished after the worker stopped; they were not recorded and run again when their lease runs out.");
        unacknowledged.Clear();
    }

    /// <summary>The worker is done with a task: it no longer holds (or renews) its lease.</summary>
    private void Release(LeasedTask task)
    {
        if (_held.TryRemove(task, out _) && task.Recoveries > 0) Interlocked.Decrement(ref _suspectsHeld);
        _cancelRequested.TryRemove(task, out _);
        // Only a suspect waits for the others to finish (WaitToRunAlone).
        if (Volatile.Read(ref _suspectsHeld) > 0)
        {
            lock (_heldChanged) Monitor.PulseAll(_heldChanged);
        }
    }

    /// <summary>
    /// Holds a suspect task until every other task of this worker finished, so that if it kills the process,
    /// its recovery counts against it alone.
    /// </summary>
    private void WaitToRunAlone(LeasedTask suspect)
    {
        lock (_heldChanged)
        {
            while (!_stopping && _held.Keys.Any(t => !ReferenceEquals(t, suspect)))
                Monitor.Wait(_heldChanged, 100);
        }
    }

    private ITaskExecutor? RunOne(LeasedTask leased, ITaskExecutor? executor, SlotState slot, List<Completion> unacknowledged)
    {
        var startedAt = Clock.UtcNow;
        TaskEnvelope envelope;
        try
        {
            envelope = leased.ReadEnvelope();
        }
        catch (MalformedTaskException ex)
        {
            RecordFailure(leased, null, startedAt, new TaskError { Reason = FailureReasons.MalformedTask, Permanent = true, Message = ex.Message });
            return executor;
        }
        catch (Security.BadSignatureException ex)
        {
            _broker.CountBadSignature(leased.Queue);
            RecordFailure(leased, null, startedAt, new TaskError { Reason = FailureReasons.BadSignature, Permanent = true, Message = ex.Message });
            return executor;
        }
        if (leased.Recoveries >= _options.MaxRecoveries)
        {
            RecordFailure(leased, envelope, startedAt, new TaskError
            {
                Reason = FailureReasons.WorkerLost,
                Permanent = true,
                Message = $"The worker died while running this task {leased.Recoveries} time(s) (its process exited, crashed or was killed, and the lease ran out), so it is not run again. A task that exits or crashes its worker process does this; Retry-TqTask runs it again.",
            });
            return executor;
        }
        if (_cancelRequested.TryRemove(leased, out _))
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

        ExecutionOutcome outcome;
        var cancel = slot.Begin(leased);
        // A cancellation that arrived while the task was being set up.
        if (_cancelRequested.ContainsKey(leased)) slot.CancelIfRunning(leased);
        try
        {
            outcome = executor!.Execute(envelope, leased.Attempt, cancel);
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
            slot.End();
        }
        if (outcome.ExecutorBroken)
        {
            _log.Warning($"Replacing the runspace of a slot after task {leased.Id}: the task did not stop when asked, so its runspace is abandoned.");
            var broken = executor!;
            // Disposing a runspace whose pipeline ignores Stop can block; never on a slot or pool thread.
            new Thread(() => { try { broken.Dispose(); } catch (Exception) { } }) { IsBackground = true, Name = "tq-abandoned" }.Start();
            executor = _executorFactory();
        }
        else if (outcome.ReplaceExecutor)
        {
            // The next task of this slot opens a new one.
            executor!.Dispose();
            executor = null;
        }
        if (_cancelRequested.TryRemove(leased, out _))
        {
            RecordFailure(leased, envelope, startedAt, Canceled());
            return executor;
        }
        if (outcome.Interrupted)
        {
            HandBack(leased);
            return executor;
        }
        Interlocked.Increment(ref _processed);
        if (outcome.Succeeded)
        {
            var result = new TaskResult
            {
                Id = leased.Id,
                Queue = leased.Queue,
                Label = envelope.Label,
                Worker = WorkerId,
                Attempts = leased.Attempt,
                EnqueuedAt = envelope.EnqueuedAt,
                StartedAt = startedAt,
                CompletedAt = Clock.UtcNow,
                Output = outcome.OutputJson,
                Warnings = NullIfEmpty(outcome.Warnings),
                Information = NullIfEmpty(outcome.Information),
                Errors = NullIfEmpty(outcome.Errors),
            };
            // Written by the acknowledger, batched with other completions, while this slot runs the next task.
            _awaitingAck[leased] = 0;
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

    private void RecordFailure(LeasedTask leased, TaskEnvelope? envelope, DateTimeOffset startedAt, TaskError error)
    {
        error.Id = leased.Id;
        error.Queue = leased.Queue;
        error.Worker = WorkerId;
        error.Attempts = leased.Attempt;
        error.StartedAt = startedAt;
        error.FailedAt = Clock.UtcNow;
        var maxAttempts = envelope?.MaxAttempts ?? 1;
        DateTimeOffset? retryAt = null;
        if (!error.Permanent && leased.Attempt < maxAttempts)
            retryAt = error.FailedAt + _retryPolicy.DelayAfter(leased.Attempt);
        if (envelope is null) Interlocked.Increment(ref _processed);
        if (!Finishing(new[] { leased }, () => Acknowledge(leased, () => _broker.FailAsync(WorkerId, error, retryAt, envelope?.UniqueKey)))) return;
        if (retryAt is null)
        {
            Interlocked.Increment(ref _failed);
            _broker.CountFinished(leased.Queue, 0, 1);
            _log.Warning($"Task {leased.Id} of queue '{leased.Queue}' failed for good after {leased.Attempt} attempt(s): {error.Message}");
        }
        else
        {
            Interlocked.Increment(ref _retried);
            _log.Verbose($"Task {leased.Id} of queue '{leased.Queue}' failed attempt {leased.Attempt} of {maxAttempts}; retry at {retryAt:u}: {error.Message}");
        }
    }

    private void HandBack(LeasedTask task)
    {
        try
        {
            var moved = Finishing(new[] { task }, () => QuietTask.Result(_broker.ReleaseAsync(task.Queue, WorkerId, new[] { task.Id })));
            Interlocked.Add(ref _handedBack, moved);
        }
        catch (Exception ex) when (IsConnectionProblem(ex))
        {
            _log.Warning($"Could not hand task {task.Id} back ({ex.Message}); it returns to the queue when its lease runs out.");
        }
    }

    private static TaskError Canceled() => new()
    {
        Reason = FailureReasons.Canceled,
        Permanent = true,
        Message = "The task was canceled with Stop-TqTask.",
    };
}

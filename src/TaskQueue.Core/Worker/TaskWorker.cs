using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>
/// A worker process's engine: one dispatcher (this thread) leases tasks into a small buffer,
/// <see cref="WorkerOptions.Concurrency"/> slot threads run them with their own executor and
/// acknowledge them, a heartbeat keeps the leases alive, and every worker recovers tasks of dead ones.
/// </summary>
public sealed class TaskWorker
{
    private readonly RedisBroker _broker;
    private readonly WorkerOptions _options;
    private readonly Func<ITaskExecutor> _executorFactory;
    private readonly IWorkerLog _log;
    private readonly RetryPolicy _retryPolicy;
    private readonly string[] _queues;
    private readonly BlockingCollection<LeasedTask> _ready = new();
    private readonly ConcurrentDictionary<LeasedTask, byte> _held = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _interrupt = new();
    private readonly WorkerSummary _summary = new();
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _runningTasks = new();
    private readonly ConcurrentDictionary<string, byte> _cancelRequested = new();
    private readonly object _heldChanged = new();
    private readonly Scheduling.ScheduleFirer _schedules;
    private readonly ConcurrentDictionary<LeasedTask, byte> _awaitingAck = new();
    private readonly BlockingCollection<Completion> _completions = new();
    private int _inWork;
    private int _suspectsHeld;
    private long _processed;
    private long _succeeded;
    private long _failed;
    private long _retried;
    private long _handedBack;
    private volatile bool _stopping;
    private string? _trouble;

    public TaskWorker(RedisBroker broker, WorkerOptions options, Func<ITaskExecutor> executorFactory, IWorkerLog? log = null)
    {
        if (options.Queues.Count == 0) throw new ArgumentException("A worker needs at least one queue.", nameof(options));
        foreach (var queue in options.Queues) QueueName.Validate(queue);
        if (options.Concurrency < 1) throw new ArgumentException("Concurrency must be at least 1.", nameof(options));
        _broker = broker;
        _options = options;
        _executorFactory = executorFactory;
        _log = log ?? NullWorkerLog.Instance;
        _retryPolicy = new RetryPolicy(options.RetryDelay, options.MaxRetryDelay);
        _queues = options.Queues.Distinct(StringComparer.Ordinal).ToArray();
        _schedules = new Scheduling.ScheduleFirer(broker);
        WorkerId = options.WorkerId ?? $"{Environment.MachineName}:{Process.GetCurrentProcess().Id}:{Guid.NewGuid().ToString("N").Substring(0, 8)}";
    }

    public string WorkerId { get; }

    /// <summary>Raised on the dispatcher thread each time it waits with no task in hand.</summary>
    public event Action? Idle;

    private IClock Clock => _broker.Clock;
    // Running tasks plus a small buffer, so a slot rarely waits for a fetch round trip.
    private int Capacity => _options.Concurrency * 2 + 8;

    /// <summary>Runs until <paramref name="stop"/> fires (or, in burst mode, until the queues are drained).</summary>
    public WorkerSummary Run(CancellationToken stop)
    {
        var watch = Stopwatch.StartNew();
        _summary.WorkerId = WorkerId;
        _summary.Queues = _queues;
        var subscriber = _broker.Connection.GetSubscriber();
        var channels = _queues.Select(q => RedisChannel.Literal(_broker.Keys(q).WakeChannel)).ToArray();
        foreach (var channel in channels) subscriber.Subscribe(channel, (_, _) => Wake());
        var cancelChannels = _queues.Select(q => (Queue: q, Channel: RedisChannel.Literal(_broker.Keys(q).CancelChannel))).ToArray();
        foreach (var (queue, channel) in cancelChannels) subscriber.Subscribe(channel, (_, id) => RequestCancel(queue, (string?)id ?? ""));
        using var stopRegistration = stop.Register(() => { _stopping = true; Wake(); });
        using var heartbeatStop = new CancellationTokenSource();
        var slots = Enumerable.Range(0, _options.Concurrency).Select(StartSlot).ToList();
        var acknowledger = new Thread(AcknowledgeLoop) { IsBackground = true, Name = "tq-ack" };
        acknowledger.Start();
        var heartbeat = Task.Run(() => HeartbeatLoop(heartbeatStop.Token));
        _log.Verbose($"Worker {WorkerId} serving {string.Join(", ", _queues)} with {_options.Concurrency} slot(s).");
        try
        {
            Dispatch(stop);
        }
        finally
        {
            _stopping = true;
            Shutdown(slots, acknowledger);
            heartbeatStop.Cancel();
            try { heartbeat.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
            foreach (var channel in channels.Concat(cancelChannels.Select(c => c.Channel)))
            {
                try { subscriber.Unsubscribe(channel); } catch (RedisException) { }
            }
            try { _broker.UnregisterWorkerAsync(WorkerId).Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
            _summary.Duration = watch.Elapsed;
        }
        return _summary;
    }

    private void Dispatch(CancellationToken stop)
    {
        var nextRecover = DateTimeOffset.MinValue;
        var nextPromote = DateTimeOffset.MinValue;
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var now = Clock.UtcNow;
                if (now >= nextRecover)
                {
                    RecoverExpiredLeases();
                    nextRecover = now + _options.RecoverInterval;
                }
                if (now >= nextPromote) nextPromote = PromoteDueRetries(now);
                var leased = LeaseTasks();
                if (_trouble is not null)
                {
                    _trouble = null;
                    _log.Warning($"Worker {WorkerId} resumes: Redis answers again.");
                    backoff = TimeSpan.FromMilliseconds(250);
                }
                if (leased > 0) continue;
                if (_options.Burst && _held.IsEmpty)
                {
                    if (PromoteDueRetries(Clock.UtcNow) == DateTimeOffset.MinValue || LeaseTasks() > 0) continue;
                    if (_held.IsEmpty) return;
                }
                var until = nextPromote < nextRecover ? nextPromote : nextRecover;
                var wait = until - Clock.UtcNow;
                if (wait > _options.PollInterval) wait = _options.PollInterval;
                if (_held.IsEmpty) Idle?.Invoke();
                if (wait > TimeSpan.Zero) _wake.Wait(wait, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // One warning per change of trouble, not one per retry: an outage of hours stays readable.
                var unreachable = IsConnectionProblem(ex);
                var trouble = unreachable ? "unreachable" : ex.Message;
                if (trouble != _trouble)
                {
                    _trouble = trouble;
                    _log.Warning(unreachable
                        ? $"Redis is unreachable ({ex.GetType().Name}: {Short(ex.Message)}); worker {WorkerId} keeps its running tasks and retries with backoff."
                        : $"Redis refused a command ({Short(ex.Message)}); worker {WorkerId} retries with backoff.");
                }
                stop.WaitHandle.WaitOne(backoff);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private int LeaseTasks()
    {
        // Tasks waiting for their acknowledgement do not take a place: only those buffered or running do.
        var free = Capacity - Volatile.Read(ref _inWork);
        // Fetch in batches rather than one task per freed slot: only once the buffer runs low.
        if (_ready.Count > _options.Concurrency) return 0;
        // A suspect (a task whose worker died under it before) runs alone: fetch nothing beside it.
        if (free <= 0 || _stopping || Volatile.Read(ref _suspectsHeld) > 0) return 0;
        var total = 0;
        foreach (var queue in _queues)
        {
            var deadline = Clock.UtcNow + _options.LeaseTime;
            var leased = _broker.FetchAsync(queue, WorkerId, free, deadline).GetAwaiter().GetResult();
            foreach (var task in leased)
            {
                _held[task] = 0;
                if (task.Recoveries > 0) Interlocked.Increment(ref _suspectsHeld);
                Interlocked.Increment(ref _inWork);
                _ready.Add(task);
            }
            total += leased.Count;
            free -= leased.Count;
            if (free <= 0 || leased.Any(t => t.Recoveries > 0)) break;
        }
        return total;
    }

    private void RecoverExpiredLeases()
    {
        foreach (var queue in _queues)
        {
            var recovered = _broker.RecoverAsync(queue).GetAwaiter().GetResult();
            if (recovered.Length > 0)
                _log.Warning($"Recovered {recovered.Length} task(s) of queue '{queue}' whose worker stopped renewing its lease ({string.Join(", ", recovered.Select(r => r.Worker).Distinct().Take(3))}): {string.Join(", ", recovered.Select(r => r.Id).Take(5))}{(recovered.Length > 5 ? ", ..." : "")}.");
        }
    }

    /// <summary>Returns when to promote next: in a second, or sooner if a retry is due sooner; MinValue if it moved any.</summary>
    private DateTimeOffset PromoteDueRetries(DateTimeOffset now)
    {
        var next = now + _options.PollInterval;
        var movedAny = false;
        foreach (var queue in _queues)
        {
            _schedules.FireDueAsync(queue).GetAwaiter().GetResult();
            var (moved, due) = _broker.PromoteAsync(queue).GetAwaiter().GetResult();
            movedAny |= moved > 0;
            if (due is { } d && d < next) next = d;
        }
        return movedAny ? DateTimeOffset.MinValue : next;
    }

    private Thread StartSlot(int index)
    {
        var thread = new Thread(SlotLoop) { IsBackground = true, Name = $"tq-slot-{index}" };
        thread.Start();
        return thread;
    }

    private void SlotLoop()
    {
        ITaskExecutor? executor = null;
        try
        {
            foreach (var task in _ready.GetConsumingEnumerable())
            {
                try
                {
                    if (_stopping)
                    {
                        HandBack(task);
                        continue;
                    }
                    if (task.Recoveries > 0) WaitToRunAlone(task);
                    executor ??= _executorFactory();
                    executor = RunOne(task, executor);
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
                    if (_ready.Count <= _options.Concurrency) Wake();
                }
            }
        }
        finally
        {
            executor?.Dispose();
        }
    }

    /// <summary>The worker is done with a task: it no longer holds (or renews) its lease.</summary>
    private void Release(LeasedTask task)
    {
        if (_held.TryRemove(task, out _) && task.Recoveries > 0) Interlocked.Decrement(ref _suspectsHeld);
        _cancelRequested.TryRemove(TaskKey(task.Queue, task.Id), out _);
        lock (_heldChanged) Monitor.PulseAll(_heldChanged);
    }

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
        foreach (var first in _completions.GetConsumingEnumerable())
        {
            batch.Clear();
            batch.Add(first);
            while (batch.Count < 500 && _completions.TryTake(out var more)) batch.Add(more);
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
                for (var i = 0; i < items.Count; i++)
                {
                    if (written is not null && written[i]) Interlocked.Increment(ref _succeeded);
                    else if (written is not null)
                        _log.Warning($"Task {items[i].Task.Id} of queue '{group.Key}' finished after this worker lost its lease; its outcome was dropped and the task runs again elsewhere.");
                    _awaitingAck.TryRemove(items[i].Task, out _);
                    Release(items[i].Task);
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
                return write().GetAwaiter().GetResult();
            }
            catch (Exception ex) when (IsConnectionProblem(ex) && Clock.UtcNow < giveUpAt)
            {
                Thread.Sleep(backoff);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 2000));
            }
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

    private ITaskExecutor RunOne(LeasedTask leased, ITaskExecutor executor)
    {
        var startedAt = Clock.UtcNow;
        TaskEnvelope envelope;
        try
        {
            envelope = TqJson.ReadEnvelope(leased.EnvelopeJson);
        }
        catch (MalformedTaskException ex)
        {
            RecordFailure(leased, null, startedAt, new TaskError { Reason = FailureReasons.MalformedTask, Permanent = true, Message = ex.Message });
            return executor;
        }
        envelope.Id = leased.Id;
        envelope.Queue = leased.Queue;
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
        var key = TaskKey(leased.Queue, leased.Id);
        if (_cancelRequested.TryRemove(key, out _))
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
        using var taskCancel = CancellationTokenSource.CreateLinkedTokenSource(_interrupt.Token);
        _runningTasks[key] = taskCancel;
        // A cancellation that arrived while the task was being set up.
        if (_cancelRequested.ContainsKey(key)) taskCancel.Cancel();
        try
        {
            outcome = executor.Execute(envelope, leased.Attempt, taskCancel.Token);
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
            _runningTasks.TryRemove(key, out _);
        }
        if (outcome.ExecutorBroken)
        {
            _log.Warning($"Replacing the runspace of a slot after task {leased.Id}: the task did not stop when asked, so its runspace is abandoned.");
            var broken = executor;
            // Disposing a runspace whose pipeline ignores Stop can block; never on a slot or pool thread.
            new Thread(() => { try { broken.Dispose(); } catch (Exception) { } }) { IsBackground = true, Name = "tq-abandoned" }.Start();
            executor = _executorFactory();
        }
        if (_cancelRequested.TryRemove(key, out _))
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
            _completions.Add(new Completion(leased, result, envelope.UniqueKey));
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
        if (!Acknowledge(leased, () => _broker.FailAsync(WorkerId, error, retryAt, envelope?.UniqueKey))) return;
        if (retryAt is null)
        {
            Interlocked.Increment(ref _failed);
            _log.Warning($"Task {leased.Id} of queue '{leased.Queue}' failed for good after {leased.Attempt} attempt(s): {error.Message}");
        }
        else
        {
            Interlocked.Increment(ref _retried);
            _log.Verbose($"Task {leased.Id} of queue '{leased.Queue}' failed attempt {leased.Attempt} of {maxAttempts}; retry at {retryAt:u}: {error.Message}");
        }
    }

    /// <summary>Writes an outcome, riding out a Redis outage for up to one lease time. False when the lease was lost.</summary>
    private bool Acknowledge(LeasedTask leased, Func<Task<bool>> write)
    {
        if (WriteWithRetry(write)) return true;
        _log.Warning($"Task {leased.Id} of queue '{leased.Queue}' finished after this worker lost its lease; its outcome was dropped and the task runs again elsewhere.");
        return false;
    }

    private void HandBack(LeasedTask task)
    {
        try
        {
            var moved = _broker.ReleaseAsync(task.Queue, WorkerId, new[] { task.Id }).GetAwaiter().GetResult();
            Interlocked.Add(ref _handedBack, moved);
        }
        catch (Exception ex) when (IsConnectionProblem(ex))
        {
            _log.Warning($"Could not hand task {task.Id} back ({ex.Message}); it returns to the queue when its lease runs out.");
        }
    }

    private void Shutdown(List<Thread> slots, Thread acknowledger)
    {
        _ready.CompleteAdding();
        var unstarted = new List<LeasedTask>();
        while (_ready.TryTake(out var task)) unstarted.Add(task);
        foreach (var group in unstarted.GroupBy(t => t.Queue))
        {
            try
            {
                var moved = _broker.ReleaseAsync(group.Key, WorkerId, group.Select(t => t.Id).ToList()).GetAwaiter().GetResult();
                Interlocked.Add(ref _handedBack, moved);
            }
            catch (Exception ex) when (IsConnectionProblem(ex))
            {
                _log.Warning($"Could not hand back {group.Count()} unstarted task(s) of queue '{group.Key}'; they return when their lease runs out.");
            }
            foreach (var task in group) _held.TryRemove(task, out _);
        }
        var drainUntil = DateTime.UtcNow + _options.DrainTimeout;
        foreach (var slot in slots)
        {
            var left = drainUntil - DateTime.UtcNow;
            if (left > TimeSpan.Zero) slot.Join(left);
        }
        if (slots.Any(s => s.IsAlive))
        {
            _log.Warning($"Running tasks did not finish within {_options.DrainTimeout.TotalSeconds:0.#} s; stopping them and handing them back.");
            _interrupt.Cancel();
            foreach (var slot in slots) slot.Join(TimeSpan.FromSeconds(10));
        }
        // Completions of the tasks that finished are written before the worker says it stopped.
        _completions.CompleteAdding();
        acknowledger.Join(_options.LeaseTime + TimeSpan.FromSeconds(5));
        _summary.Processed = Interlocked.Read(ref _processed);
        _summary.Succeeded = Interlocked.Read(ref _succeeded);
        _summary.Failed = Interlocked.Read(ref _failed);
        _summary.Retried = Interlocked.Read(ref _retried);
        _summary.HandedBack = Interlocked.Read(ref _handedBack);
    }

    private async Task HeartbeatLoop(CancellationToken stop)
    {
        var info = new WorkerInfo
        {
            Id = WorkerId,
            Host = Environment.MachineName,
            ProcessId = Process.GetCurrentProcess().Id,
            Queues = _queues,
            Concurrency = _options.Concurrency,
            StartedAt = Clock.UtcNow,
        };
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var deadline = Clock.UtcNow + _options.LeaseTime;
                foreach (var group in _held.Keys.GroupBy(t => t.Queue))
                {
                    var (lost, canceled) = await _broker.ExtendAsync(group.Key, WorkerId, group.Select(t => t.Id).ToList(), deadline).ConfigureAwait(false);
                    // A task that finished while the heartbeat was on its way is not lost: only those still held are.
                    var stillHeld = lost.Where(id => _held.Keys.Any(t => t.Queue == group.Key && t.Id == id && !_awaitingAck.ContainsKey(t))).ToList();
                    if (stillHeld.Count > 0)
                        _log.Warning($"This worker lost the lease of {stillHeld.Count} task(s) of queue '{group.Key}' (Redis was unreachable longer than the lease time?): {string.Join(", ", stillHeld.Take(5))}.");
                    foreach (var id in canceled) RequestCancel(group.Key, id);
                }
                info.Running = _held.Count;
                info.Processed = Interlocked.Read(ref _processed);
                await _broker.HeartbeatWorkerAsync(info, _options.LeaseTime).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsConnectionProblem(ex))
            {
                // The dispatcher reports outages; leases are renewed on the next beat.
            }
            try { await Task.Delay(_options.HeartbeatInterval, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    private static string TaskKey(string queue, string id) => queue + "\n" + id;

    private static TaskError Canceled() => new()
    {
        Reason = FailureReasons.Canceled,
        Permanent = true,
        Message = "The task was canceled with Stop-TqTask.",
    };

    /// <summary>Stops a task this worker runs or holds, when Stop-TqTask asked (pub/sub message or heartbeat).</summary>
    private void RequestCancel(string queue, string id)
    {
        var key = TaskKey(queue, id);
        if (!_held.Keys.Any(t => t.Queue == queue && t.Id == id)) return;
        _cancelRequested[key] = 0;
        if (_runningTasks.TryGetValue(key, out var running))
        {
            try { running.Cancel(); }
            catch (ObjectDisposedException) { }
        }
    }

    private void Wake()
    {
        if (_wake.CurrentCount > 0) return;
        try { _wake.Release(); }
        catch (SemaphoreFullException) { }
    }

    internal static bool IsConnectionProblem(Exception ex) =>
        ex is RedisConnectionException or RedisTimeoutException or TimeoutException or ObjectDisposedException
        || (ex is RedisServerException server && (server.Message.StartsWith("LOADING") || server.Message.StartsWith("MASTERDOWN") || server.Message.StartsWith("READONLY")))
        || (ex is AggregateException agg && agg.InnerExceptions.Any(IsConnectionProblem));


    /// <summary>The first clause of a client message: StackExchange.Redis appends a page of connection state.</summary>
    private static string Short(string message)
    {
        var end = message.IndexOf(';');
        var text = end > 0 ? message.Substring(0, end) : message;
        return text.Length > 200 ? text.Substring(0, 200) + "..." : text;
    }

    private static List<string>? NullIfEmpty(List<string>? list) => list is { Count: > 0 } ? list : null;
}

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
/// A worker process's engine: one dispatcher (this thread) leases tasks into a buffer and reads their envelopes,
/// <see cref="WorkerOptions.Concurrency"/> slot threads run them with their own executor and
/// acknowledge them, a heartbeat keeps the leases alive, and every worker recovers tasks of dead ones.
/// This file holds the dispatcher and shutdown; the slots, the acknowledger and the heartbeat have a file each.
/// </summary>
public sealed partial class TaskWorker
{
    private readonly RedisBroker _broker;
    private readonly WorkerOptions _options;
    private readonly Func<ITaskExecutor> _executorFactory;
    private readonly IWorkerLog _log;
    private readonly RetryPolicy _retryPolicy;
    private readonly string[] _queues;
    private readonly QuietQueue<LeasedTask> _ready = new();
    private readonly ConcurrentDictionary<LeasedTask, byte> _held = new();
    private readonly QuietSignal _wake = new();
    private readonly CancellationTokenSource _interrupt = new();
    private readonly WorkerSummary _summary = new();
    // Tasks held by this worker whose cancellation Stop-TqTask asked for.
    private readonly ConcurrentDictionary<LeasedTask, byte> _cancelRequested = new();
    private readonly SlotState[] _slotStates;
    private readonly object _heldChanged = new();
    private readonly Scheduling.ScheduleFirer _schedules;
    private readonly ConcurrentDictionary<LeasedTask, byte> _awaitingAck = new();
    private readonly QuietQueue<Completion[]> _completions = new();
    private readonly CountdownEvent _slotsOpening;
    private int _inWork;
    private long _averageTaskTicks;
    private int _suspectsHeld;
    private long _processed;
    private long _succeeded;
    private long _failed;
    private long _retried;
    private long _handedBack;
    // Stopwatch timestamps of the first fetch that leased a task (0: none yet) and of the last outcome written.
    private long _firstFetch;
    private long _lastOutcome;
    private int _ran;
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
        _slotsOpening = new CountdownEvent(options.Concurrency);
        _slotStates = Enumerable.Range(0, options.Concurrency).Select(_ => new SlotState(_interrupt.Token)).ToArray();
        _log = log ?? NullWorkerLog.Instance;
        _retryPolicy = new RetryPolicy(options.RetryDelay, options.MaxRetryDelay);
        _queues = options.Queues.Distinct(StringComparer.Ordinal).ToArray();
        _schedules = new Scheduling.ScheduleFirer(broker, options.Signatures, _log.Warning);
        WorkerId = options.WorkerId ?? $"{Environment.MachineName}:{Process.GetCurrentProcess().Id}:{Guid.NewGuid().ToString("N").Substring(0, 8)}";
    }

    public string WorkerId { get; }

    /// <summary>
    /// What the worker did so far, read while it runs (for progress): tasks processed, succeeded, failed and retried.
    /// Succeeded counts success records Redis acknowledged, so it trails Processed by the batch on its way.
    /// </summary>
    public WorkerSummary Snapshot() => CopyCounts(new WorkerSummary { WorkerId = WorkerId, Queues = _queues });

    /// <summary>Sets the task counts of <paramref name="summary"/> to the worker's so far, and returns it.</summary>
    private WorkerSummary CopyCounts(WorkerSummary summary)
    {
        summary.Processed = Interlocked.Read(ref _processed);
        summary.Succeeded = Interlocked.Read(ref _succeeded);
        summary.Failed = Interlocked.Read(ref _failed);
        summary.Retried = Interlocked.Read(ref _retried);
        summary.HandedBack = Interlocked.Read(ref _handedBack);
        return summary;
    }

    /// <summary>Raised on the dispatcher thread each time it waits with no task in hand.</summary>
    public event Action? Idle;

    private IClock Clock => _broker.Clock;
    /// <summary>How much work, at the recent task duration, the buffer of leased but unstarted tasks holds per slot.</summary>
    private static readonly TimeSpan BufferTime = TimeSpan.FromMilliseconds(20);
    private const int MaxBufferPerSlot = 512;

    /// <summary>
    /// Tasks this worker leases at most: those running plus a buffer sized to about <see cref="BufferTime"/> of
    /// work per slot at the recent task duration. Short tasks get a deep buffer, so one fetch and one
    /// acknowledgement round trip (and the thread wake-ups around them) serve dozens of tasks; long tasks get one
    /// buffered task per slot, so a busy worker does not sit on tasks that an idle worker could run.
    /// </summary>
    private int Capacity
    {
        get
        {
            var concurrency = _options.Concurrency;
            var average = Interlocked.Read(ref _averageTaskTicks);
            if (average <= 0) return concurrency * 2;
            var perSlot = (int)Math.Max(1, Math.Min(MaxBufferPerSlot, BufferTime.Ticks / average));
            return concurrency * (1 + perSlot);
        }
    }

    /// <summary>The buffer of leased, unstarted tasks is down to half of what it holds at most (or one per slot).</summary>
    private bool BufferLow
    {
        get
        {
            var concurrency = _options.Concurrency;
            return _ready.Count <= Math.Max(concurrency, (Capacity - concurrency) / 2);
        }
    }

    /// <summary>Folds one task's time on its slot into the moving average (weight 1/16) that sizes the buffer.</summary>
    private void RecordTaskTime(TimeSpan elapsed)
    {
        var average = Interlocked.Read(ref _averageTaskTicks);
        var next = average <= 0 ? elapsed.Ticks : average + (elapsed.Ticks - average) / 16;
        // Slots race here; losing an update now and then only makes the average a little less smooth.
        Interlocked.Exchange(ref _averageTaskTicks, Math.Max(1, next));
    }

    /// <summary>
    /// Runs until <paramref name="stop"/> fires (or, in burst mode, until the queues are drained). A worker runs once:
    /// its slots, counters and summary are its own.
    /// </summary>
    public WorkerSummary Run(CancellationToken stop)
    {
        if (Interlocked.Exchange(ref _ran, 1) == 1) throw new InvalidOperationException("This worker has run already; create a new one to run again.");
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
            // Lease nothing before the slots have their runspaces: leases would run down while tasks wait.
            WaitHandle.WaitAny(new[] { _slotsOpening.WaitHandle, stop.WaitHandle });
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
        var nextTrim = DateTimeOffset.MinValue;
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
                if (now >= nextTrim)
                {
                    foreach (var queue in _queues) _broker.TrimRecordsAsync(queue).GetAwaiter().GetResult();
                    nextTrim = now + TrimInterval;
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
                if (wait > TimeSpan.Zero) _wake.Wait(wait);
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
        // Fetch in batches rather than one task per freed slot: once the buffer is half empty, so that the
        // next batch arrives while the slots still have work.
        if (!BufferLow) return 0;
        // A suspect (a task whose worker died under it before) runs alone: fetch nothing beside it.
        if (free <= 0 || _stopping || Volatile.Read(ref _suspectsHeld) > 0) return 0;
        var total = 0;
        foreach (var queue in _queues)
        {
            var deadline = Clock.UtcNow + _options.LeaseTime;
            var asked = Stopwatch.GetTimestamp();
            var leased = QuietTask.Result(_broker.FetchAsync(queue, WorkerId, free, deadline));
            if (leased.Count > 0) Interlocked.CompareExchange(ref _firstFetch, asked, 0);
            foreach (var task in leased)
            {
                task.ReadAhead(_options.Signatures);
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

    /// <summary>How often a worker removes the records of its queues that are older than their retention (and once at start).</summary>
    public static readonly TimeSpan TrimInterval = TimeSpan.FromMinutes(1);

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

    private void Shutdown(List<Thread> slots, Thread acknowledger)
    {
        _ready.CompleteAdding();
        var unstarted = new List<LeasedTask>();
        while (_ready.TryTake(out var task)) unstarted.Add(task);
        foreach (var group in unstarted.GroupBy(t => t.Queue))
        {
            var tasks = group.ToList();
            try
            {
                var moved = Finishing(tasks, () => QuietTask.Result(_broker.ReleaseAsync(group.Key, WorkerId, tasks.Select(t => t.Id).ToList())));
                Interlocked.Add(ref _handedBack, moved);
            }
            catch (Exception ex) when (IsConnectionProblem(ex))
            {
                _log.Warning($"Could not hand back {tasks.Count} unstarted task(s) of queue '{group.Key}'; they return when their lease runs out.");
            }
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
        CopyCounts(_summary);
        var first = Interlocked.Read(ref _firstFetch);
        var last = Interlocked.Read(ref _lastOutcome);
        if (first != 0 && last > first) _summary.ProcessingTime = Between(first, last);
    }

    /// <summary>The time between two <see cref="Stopwatch.GetTimestamp"/> readings.</summary>
    private static TimeSpan Between(long from, long to) =>
        TimeSpan.FromTicks((long)((to - from) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency));

    private void Wake() => _wake.Set();

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

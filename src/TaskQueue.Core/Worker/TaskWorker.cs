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
/// A worker process's engine. This class is the dispatcher (the thread that calls <see cref="Run"/>): it leases tasks
/// into a buffer and reads their envelopes, and it starts and stops the components around the <see cref="LeaseBook"/>,
/// which owns what the worker holds:
/// <list type="bullet">
/// <item><see cref="Slot"/>s (<see cref="WorkerOptions.Concurrency"/> threads) run tasks with their own executor;</item>
/// <item>the <see cref="Acknowledger"/> writes their outcomes and hands tasks back;</item>
/// <item>the <see cref="Heartbeat"/> renews the leases and relays cancellations;</item>
/// <item>the <see cref="Recoverer"/> returns the tasks of dead workers, and <see cref="DueWork"/> moves retries,
/// delayed tasks and schedule occurrences to pending when they come due;</item>
/// <item>the <see cref="QueueWatch"/> says which queue to ask Redis about, and when: an idle worker sends a few commands
/// a second however many queues it serves.</item>
/// </list>
/// </summary>
public sealed partial class TaskWorker
{
    private readonly RedisBroker _broker;
    private readonly WorkerOptions _options;
    private readonly IWorkerLog _log;
    private readonly string[] _queues;
    private readonly QueueWatch _watch;
    private readonly QuietQueue<LeasedTask> _ready = new();
    private readonly QuietSignal _wake = new();
    private readonly CancellationTokenSource _interrupt = new();
    private readonly WorkerSummary _summary = new();
    private readonly LeaseBook _book = new();
    private readonly WorkerCounters _counters = new();
    private readonly Acknowledger _acknowledger;
    private readonly Recoverer _recoverer;
    private readonly DueWork _due;
    private readonly Slot[] _slots;
    private readonly CountdownEvent _slotsOpening;
    // Tasks leased and not yet out of their slot (buffered or running); those awaiting their acknowledgement do not count.
    private int _inWork;
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
        _log = log ?? NullWorkerLog.Instance;
        _queues = options.Queues.Distinct(StringComparer.Ordinal).ToArray();
        WorkerId = options.WorkerId ?? $"{Environment.MachineName}:{Process.GetCurrentProcess().Id}:{Guid.NewGuid().ToString("N").Substring(0, 8)}";
        _slotsOpening = new CountdownEvent(options.Concurrency);
        _acknowledger = new Acknowledger(broker, _book, _counters, _log, WorkerId, options.LeaseTime, Wake);
        _watch = new QueueWatch(_queues, options.PollInterval);
        _recoverer = new Recoverer(broker, _log);
        _due = new DueWork(broker, new Scheduling.ScheduleFirer(broker, options.Signatures, _log.Warning));
        // Records set aside in a queue's dead-letter list (a malformed hand-over line or schedule) are warned of here.
        broker.Warn = _log.Warning;
        var context = new SlotContext(broker, options, WorkerId, _book, _counters, _acknowledger, _log, executorFactory, _ready,
            () => _stopping, TaskLeftSlot, _slotsOpening, _interrupt.Token);
        _slots = Enumerable.Range(0, options.Concurrency).Select(i => new Slot(i, context)).ToArray();
    }

    public string WorkerId { get; }

    /// <summary>
    /// What the worker did so far, read while it runs (for progress): tasks processed, succeeded, failed and retried.
    /// Succeeded counts success records Redis acknowledged, so it trails Processed by the batch on its way.
    /// </summary>
    public WorkerSummary Snapshot() => _counters.CopyTo(new WorkerSummary { WorkerId = WorkerId, Queues = _queues });

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
            var average = _counters.AverageTaskTicks;
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

    /// <summary>A task left its slot: one fewer in work; the dispatcher refills the buffer in batches, so it wakes only when the buffer runs low.</summary>
    private void TaskLeftSlot()
    {
        Interlocked.Decrement(ref _inWork);
        if (BufferLow) Wake();
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
        _subscriber = _broker.Connection.GetSubscriber();
        foreach (var queue in _queues) Subscribe(queue);
        // Messages sent while the connection was down are lost: look at every queue once it is back.
        EventHandler<ConnectionFailedEventArgs> restored = (_, _) => { _watch.LookAtAll(); Wake(); };
        _broker.Connection.ConnectionRestored += restored;
        using var stopRegistration = stop.Register(() => { _stopping = true; Wake(); });
        using var heartbeatStop = new CancellationTokenSource();
        var slots = _slots.Select(slot => slot.Start()).ToList();
        _acknowledger.Start();
        var info = new WorkerInfo
        {
            Id = WorkerId,
            Host = Environment.MachineName,
            ProcessId = Process.GetCurrentProcess().Id,
            Queues = _queues,
            Concurrency = _options.Concurrency,
            StartedAt = Clock.UtcNow,
            ModuleVersion = WorkerInfo.EngineVersion,
            WorkerName = _options.WorkerName is { Length: > 0 } name ? name : Environment.MachineName,
            WorkerTag = _options.WorkerTags,
        };
        // Running tasks' stream logs go to Redis a few times a second (StreamLog).
        using var flusher = new Timer(_ => { foreach (var slot in _slots) slot.Streams?.FlushIfDue(); }, null, StreamLog.FlushEvery, StreamLog.FlushEvery);
        var heartbeat = new Heartbeat(_broker, _book, _counters, _options, info, _log, RequestCancel);
        var beating = Task.Run(() => heartbeat.RunAsync(heartbeatStop.Token));
        _log.Info($"Worker {WorkerId} started on {Environment.MachineName}: queue(s) {string.Join(", ", _queues)}, {_options.Concurrency} runspace(s){(_options.Burst ? ", until the queues are drained" : "")}.");
        try
        {
            // Lease nothing before the slots have their runspaces: leases would run down while tasks wait.
            WaitHandle.WaitAny(new[] { _slotsOpening.WaitHandle, stop.WaitHandle });
            Dispatch(stop);
        }
        finally
        {
            _stopping = true;
            if (stop.IsCancellationRequested)
                _log.Info($"Worker {WorkerId} is stopping: running tasks may finish for up to {_options.DrainTimeout.TotalSeconds:0.#} s (a second Ctrl+C or SIGTERM stops them at once); tasks not started go back to their queues.");
            Shutdown(slots);
            heartbeatStop.Cancel();
            try { beating.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
            _broker.Connection.ConnectionRestored -= restored;
            foreach (var channel in _channels)
            {
                try { _subscriber.Unsubscribe(channel); } catch (RedisException) { }
            }
            try { _broker.Workers.UnregisterWorkerAsync(WorkerId).Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
            _summary.Duration = watch.Elapsed;
            _log.Info($"Worker {WorkerId} stopped after {_summary.Duration.TotalSeconds:0.#} s: {_summary.Processed} task(s) processed, {_summary.Succeeded} succeeded, {_summary.Failed} failed, {_summary.Retried} to be retried.");
        }
        return _summary;
    }

    private void Dispatch(CancellationToken stop)
    {
        var backoff = new Backoff();
        // Burst mode returns once a look at every queue found nothing to do.
        var lookedAtAll = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var now = Clock.UtcNow;
                var nowMs = now.ToUnixMs();
                if (Interlocked.Exchange(ref _shardsChanged, 0) == 1)
                {
                    try { ReadShards(_queues); }
                    catch { Interlocked.Exchange(ref _shardsChanged, 1); throw; }
                }
                // The sweep also reads the shard count of a queue it comes to: a change whose message was lost.
                if (_watch.Sweep(now) is { } swept && !ShardRouter.IsShard(swept.Name) && _queues.Contains(swept.Name)) ReadShards(new[] { swept.Name });
                foreach (var queue in _watch.Queues)
                {
                    if (queue.LeaseEndsMs <= nowMs) Recover(queue);
                    if (queue.FetchAtMs <= nowMs)
                    {
                        queue.FetchAt(WatchedQueue.Never);
                        queue.MarkPending();
                    }
                    if (queue.DueMs <= nowMs) MoveDue(queue);
                    if (queue.TrimAsked || (queue.Wrote && now >= queue.NextTrim)) Trim(queue, now);
                }
                var leased = LeaseTasks();
                if (_trouble is not null)
                {
                    _trouble = null;
                    _log.Warning($"Worker {WorkerId} resumes: Redis answers again.");
                    backoff.Reset();
                }
                if (leased > 0)
                {
                    lookedAtAll = false;
                    continue;
                }
                if (_options.Burst && _book.IsEmpty)
                {
                    if (!lookedAtAll)
                    {
                        _watch.LookAtAll();
                        lookedAtAll = true;
                        continue;
                    }
                    return;
                }
                var wait = _watch.NextEvent() - Clock.UtcNow;
                if (wait > _options.PollInterval) wait = _options.PollInterval;
                if (_book.IsEmpty) Idle?.Invoke();
                if (wait > TimeSpan.Zero) _wake.Wait(wait);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // One warning per change of trouble, not one per retry: an outage of hours stays readable.
                var unreachable = RedisTrouble.IsConnectionProblem(ex);
                if (unreachable) _book.NoteRedisTrouble();
                var trouble = unreachable ? "unreachable" : ex.Message;
                if (trouble != _trouble)
                {
                    _trouble = trouble;
                    _log.Warning(unreachable
                        ? $"Redis is unreachable ({ex.GetType().Name}: {RedisTrouble.Short(ex.Message)}); worker {WorkerId} keeps its running tasks and retries with backoff."
                        : $"Redis refused a command ({RedisTrouble.Short(ex.Message)}); worker {WorkerId} retries with backoff.");
                }
                stop.WaitHandle.WaitOne(backoff.Next());
            }
        }
    }

    /// <summary>Recovers the queue's leases that ran out, and learns when the next one does.</summary>
    private void Recover(WatchedQueue queue)
    {
        queue.ForgetLeaseEnd();
        try
        {
            var (recovered, next) = _recoverer.Recover(queue.Name);
            queue.LeaseEndsBy(next?.ToUnixMs() ?? WatchedQueue.Never);
            if (recovered > 0) queue.MarkPending();
        }
        catch
        {
            queue.LeaseEndsBy(long.MinValue);
            throw;
        }
    }

    /// <summary>Moves the queue's due retries, delayed tasks and schedule occurrences to pending, and learns when the next is due.</summary>
    private void MoveDue(WatchedQueue queue)
    {
        queue.ForgetDue();
        try
        {
            var (moved, next) = _due.MoveDue(queue.Name);
            queue.DueBy(next?.ToUnixMs() ?? WatchedQueue.Never);
            if (moved) queue.MarkPending();
        }
        catch
        {
            queue.DueBy(long.MinValue);
            throw;
        }
    }

    private void Trim(WatchedQueue queue, DateTimeOffset now)
    {
        _broker.TrimRecordsAsync(queue.Name).GetAwaiter().GetResult();
        queue.TrimAsked = false;
        queue.Wrote = false;
        queue.NextTrim = now + TrimInterval;
    }

    private int LeaseTasks()
    {
        // Tasks waiting for their acknowledgement do not take a place: only those buffered or running do.
        var free = Capacity - Volatile.Read(ref _inWork);
        // Fetch in batches rather than one task per freed slot: once the buffer is half empty, so that the
        // next batch arrives while the slots still have work.
        if (!BufferLow) return 0;
        // A suspect (a task whose worker died under it before) runs alone: fetch nothing beside it.
        if (free <= 0 || _stopping || _book.HoldsSuspect) return 0;
        var total = 0;
        foreach (var queue in _watch.FetchOrder())
        {
            // Only queues that may hold tasks: a wake-up message came, or the last fetch left some.
            if (!queue.MaybePending) continue;
            queue.ClearPending();
            var deadline = Clock.UtcNow + _options.LeaseTime;
            var asked = Stopwatch.GetTimestamp();
            FetchReply reply;
            try
            {
                reply = QuietTask.Result(_broker.LeaseAsync(queue.Name, WorkerId, free, deadline));
            }
            catch
            {
                queue.MarkPending();
                throw;
            }
            // With the list empty, this worker fetches here again when a message says tasks came. Held back by a limit
            // (Suspend-TqQueue, Set-TqQueue), it fetches again when a message says the limit lifted (resumed, a place
            // came free), or when the rate limit lets the next task start.
            if (reply.Hold > 0) queue.FetchAt(reply.Hold);
            else if (reply.Left > 0 && reply.Hold < 0) queue.MarkPending();
            if (reply.FirstLeaseEnds is { } ends) queue.LeaseEndsBy(ends.ToUnixMs());
            var leased = reply.Tasks;
            foreach (var task in leased) task.LeaseEndsMs = deadline.ToUnixMs();
            if (leased.Count > 0)
            {
                _counters.FetchLeased(asked);
                queue.Wrote = true;
            }
            foreach (var task in leased)
            {
                task.ReadAhead(_options.Signatures, _broker.Options.MaxTaskBytes + MaxSignatureLineBytes);
                _book.Hold(task);
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

    private readonly ManualResetEventSlim _stopNow = new();

    /// <summary>Stops the running tasks at once (a second Ctrl+C or SIGTERM) rather than letting them finish: they are handed back.</summary>
    public void StopNow()
    {
        _stopNow.Set();
    }

    private static readonly TimeSpan DrainStep = TimeSpan.FromMilliseconds(100);

    private void Shutdown(List<Thread> slots)
    {
        _ready.CompleteAdding();
        var unstarted = new List<LeasedTask>();
        while (_ready.TryTake(out var task)) unstarted.Add(task);
        foreach (var group in unstarted.GroupBy(t => t.Queue))
        {
            _acknowledger.HandBack(group.Key, group.ToList());
            _log.Info($"Worker {WorkerId} handed back {group.Count()} task(s) it had not started to queue {ShardRouter.Logical(group.Key)}.");
        }
        var drainUntil = DateTime.UtcNow + _options.DrainTimeout;
        foreach (var slot in slots)
        {
            var left = drainUntil - DateTime.UtcNow;
            // In short steps, so that StopNow cuts the drain short.
            while (left > TimeSpan.Zero && !_stopNow.IsSet && !slot.Join(left < DrainStep ? left : DrainStep)) left = drainUntil - DateTime.UtcNow;
        }
        if (slots.Any(s => s.IsAlive))
        {
            _log.Warning(_stopNow.IsSet
                ? "Stopping the running tasks at once, as asked, and handing them back."
                : $"Running tasks did not finish within {_options.DrainTimeout.TotalSeconds:0.#} s; stopping them and handing them back.");
            _interrupt.Cancel();
            foreach (var slot in slots) slot.Join(TimeSpan.FromSeconds(10));
        }
        // Completions of the tasks that finished are written before the worker says it stopped.
        _acknowledger.Stop(_options.LeaseTime + TimeSpan.FromSeconds(5));
        _counters.CopyTo(_summary);
    }

    /// <summary>Room for the signature line in front of a signed envelope of the largest size a sender stores.</summary>
    private const int MaxSignatureLineBytes = 256;

    private void Wake() => _wake.Set();
}

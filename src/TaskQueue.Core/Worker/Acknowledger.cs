using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>A success record on its way to Redis, with the task it ends.</summary>
internal sealed class Completion
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
/// Writes what becomes of the tasks a worker holds: success records in batches on a thread of its own, failed
/// attempts and hand-backs at once. Each write rides out a Redis outage for up to one lease time, and each task is let
/// go (<see cref="LeaseBook.LetGo"/>) once its write is done.
/// </summary>
internal sealed class Acknowledger
{
    private readonly RedisBroker _broker;
    private readonly LeaseBook _book;
    private readonly WorkerCounters _counters;
    private readonly IWorkerLog _log;
    private readonly string _workerId;
    private readonly TimeSpan _leaseTime;
    private readonly Action _written;
    private readonly QuietQueue<Completion[]> _completions = new();
    private Thread? _thread;
    // Until when (UTC ticks) outcomes are written without waiting for replicas, after a wait found fewer than asked;
    // read and written by the acknowledger and the slots.
    private long _replicasMissingUntil;

    /// <summary>How long a worker writes outcomes without waiting for replicas after a wait found fewer than asked.</summary>
    public static readonly TimeSpan ReplicaRecheck = TimeSpan.FromSeconds(30);

    /// <param name="written">Called after each batch of success records is written (the dispatcher leases again).</param>
    public Acknowledger(RedisBroker broker, LeaseBook book, WorkerCounters counters, IWorkerLog log, string workerId, TimeSpan leaseTime, Action written)
    {
        _broker = broker;
        _book = book;
        _counters = counters;
        _log = log;
        _workerId = workerId;
        _leaseTime = leaseTime;
        _written = written;
    }

    private IClock Clock => _broker.Clock;

    /// <summary>Most success records written in one pass (one script call per queue).</summary>
    public const int MaxBatch = 500;

    public void Start()
    {
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "tq-ack" };
        _thread.Start();
    }

    /// <summary>
    /// Takes success records to write, their tasks already finishing (<see cref="LeaseBook.BeginFinishing"/>). False
    /// once the acknowledger stopped: they are not written, and their tasks run again when their lease runs out.
    /// </summary>
    public bool TryAdd(Completion[] completions) => _completions.TryAdd(completions);

    /// <summary>Writes what it was given, then stops; waits for that at most <paramref name="timeout"/>.</summary>
    public void Stop(TimeSpan timeout)
    {
        _completions.CompleteAdding();
        _thread?.Join(timeout);
    }

    /// <summary>
    /// Writes success records in batches, one script call per queue per batch: while a batch is on its way,
    /// the next one gathers.
    /// </summary>
    private void WriteLoop()
    {
        var batch = new List<Completion>();
        while (_completions.TryTakeOrWait(out var first))
        {
            batch.Clear();
            batch.AddRange(first);
            while (batch.Count < MaxBatch && _completions.TryTake(out var more)) batch.AddRange(more);
            foreach (var group in batch.GroupBy(c => c.Task.Queue))
            {
                var items = group.ToList();
                bool[]? written = null;
                // Outcomes not to write: the lease ran out and this worker holds the task again (see HasNewerCopy).
                var dropped = new bool[items.Count];
                async Task<bool[]> WriteLive()
                {
                    var nowMs = Clock.UtcNow.ToUnixMs();
                    var any = false;
                    for (var i = 0; i < items.Count; i++)
                    {
                        if (!dropped[i] && _book.HasNewerCopy(items[i].Task, nowMs)) dropped[i] = true;
                        any |= dropped[i];
                    }
                    // The usual case: every lease live, the batch written as it is.
                    if (!any) return await _broker.CompleteAsync(group.Key, _workerId, items.Select(c => (c.Result, c.UniqueKey)).ToList()).ConfigureAwait(false);
                    var result = new bool[items.Count];
                    var live = Enumerable.Range(0, items.Count).Where(i => !dropped[i]).ToList();
                    if (live.Count == 0) return result;
                    var done = await _broker.CompleteAsync(group.Key, _workerId, live.Select(i => (items[i].Result, items[i].UniqueKey)).ToList()).ConfigureAwait(false);
                    for (var k = 0; k < live.Count; k++) result[live[k]] = done[k];
                    return result;
                }
                try
                {
                    written = WriteWithRetry(WriteLive);
                }
                catch (Exception ex)
                {
                    _log.Error($"Could not record {items.Count} completed task(s) of queue '{group.Key}' ({ex.Message}); they run again when their lease runs out.", ex);
                }
                if (written is not null)
                {
                    ConfirmReplicas(group.Key, items.Count);
                    _broker.Statistics.CountFinished(group.Key, written.Count(w => w), 0);
                }
                for (var i = 0; i < items.Count; i++)
                {
                    if (written is not null && written[i]) _counters.AddSucceeded();
                    else if (written is not null) WarnLeaseLost(items[i].Task);
                    LetGo(items[i].Task);
                }
                _written();
            }
        }
    }

    /// <summary>Writes a failed attempt (a retry, or the failure record). False when the lease was lost and nothing was written.</summary>
    public bool WriteFailure(LeasedTask task, TaskError error, DateTimeOffset? retryAt, string? uniqueKey) =>
        Finish(new[] { task }, () =>
        {
            if (WriteWithRetry(() => _broker.FailAsync(task.Queue, _workerId, error, retryAt, uniqueKey)))
            {
                ConfirmReplicas(task.Queue, 1);
                return true;
            }
            WarnLeaseLost(task);
            return false;
        });

    /// <summary>
    /// Hands tasks of one queue back to the front of their queue, their attempt not counted. A Redis that stays
    /// unreachable is only reported: the tasks return when their lease runs out.
    /// </summary>
    public void HandBack(string queue, IReadOnlyCollection<LeasedTask> tasks)
    {
        try
        {
            var moved = Finish(tasks, () => QuietTask.Result(_broker.HandBackAsync(queue, _workerId, tasks.Select(t => t.Id).ToList())));
            ConfirmReplicas(queue, tasks.Count);
            _counters.AddHandedBack(moved);
        }
        catch (Exception ex) when (RedisTrouble.IsConnectionProblem(ex))
        {
            _log.Warning($"Could not hand back {tasks.Count} task(s) of queue '{queue}' ({ex.Message}); they return to the queue when their lease runs out.");
        }
    }

    /// <summary>
    /// With -WaitReplicas, waits until that many replicas have the outcomes just written; warns when fewer confirmed in
    /// time (a failover then could lose them, and their tasks would run again).
    /// </summary>
    private void ConfirmReplicas(string queue, int count)
    {
        var wanted = _broker.Options.WaitReplicas;
        if (wanted <= 0 || Clock.UtcNow.UtcTicks < Interlocked.Read(ref _replicasMissingUntil)) return;
        try
        {
            var confirmed = QuietTask.Result(_broker.Replication.WaitAsync(queue)) ?? wanted;
            if (confirmed < wanted)
            {
                // WAIT holds the connection it runs on, which every command of this worker shares: waiting out its
                // timeout on each batch while replicas are missing (after a failover, the new primary has none yet)
                // slowed a worker to a few tasks a second in the cluster chaos run. Waiting would not make the writes
                // safer, so the worker stops asking for a while, and says so.
                Interlocked.Exchange(ref _replicasMissingUntil, (Clock.UtcNow + ReplicaRecheck).UtcTicks);
                _log.Warning($"Only {confirmed} of {wanted} replica(s) confirmed the outcome of {count} task(s) of queue '{queue}' within {_broker.Options.WaitReplicasTimeout.TotalSeconds:0.#} s: a failover now could lose it, and the task(s) would run again. Outcomes are written without waiting for replicas for the next {ReplicaRecheck.TotalSeconds:0} s.");
            }
        }
        catch (Exception ex) when (RedisTrouble.IsConnectionProblem(ex))
        {
            _log.Warning($"Could not ask Redis whether replicas have the outcome of {count} task(s) of queue '{queue}' ({ex.Message}).");
        }
    }

    private T Finish<T>(IReadOnlyCollection<LeasedTask> tasks, Func<T> write)
    {
        try
        {
            return _book.Finish(tasks, write);
        }
        finally
        {
            _counters.OutcomeWritten();
        }
    }

    private void LetGo(LeasedTask task)
    {
        _book.LetGo(task);
        _counters.OutcomeWritten();
    }

    private void WarnLeaseLost(LeasedTask task) =>
        _log.Warning($"Task {task.Id} of queue '{task.Queue}' finished after this worker lost its lease; its outcome was dropped and the task runs again elsewhere.");

    /// <summary>Runs <paramref name="write"/>, again with backoff while Redis is unreachable, for up to one lease time.</summary>
    private T WriteWithRetry<T>(Func<Task<T>> write)
    {
        var giveUpAt = Clock.UtcNow + _leaseTime;
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return QuietTask.Result(write());
            }
            catch (Exception ex) when (RedisTrouble.IsConnectionProblem(ex) && Clock.UtcNow < giveUpAt)
            {
                Thread.Sleep(backoff);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 2000));
            }
        }
    }
}

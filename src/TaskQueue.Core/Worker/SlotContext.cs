using System;
using System.Threading;
using TaskQueue.Core.Broker;

namespace TaskQueue.Core.Worker;

/// <summary>What the slots of a worker share with it and with each other.</summary>
internal sealed class SlotContext
{
    public SlotContext(RedisBroker broker, WorkerOptions options, string workerId, LeaseBook book, WorkerCounters counters,
        Acknowledger acknowledger, IWorkerLog log, Func<ITaskExecutor> executorFactory, QuietQueue<LeasedTask> ready,
        Func<bool> stopping, Action taskLeft, CountdownEvent opening, CancellationToken interrupt)
    {
        Broker = broker;
        Options = options;
        WorkerId = workerId;
        Book = book;
        Counters = counters;
        Acknowledger = acknowledger;
        Log = log;
        ExecutorFactory = executorFactory;
        Ready = ready;
        Stopping = stopping;
        TaskLeft = taskLeft;
        Opening = opening;
        Interrupt = interrupt;
        RetryPolicy = new RetryPolicy(options.RetryDelay, options.MaxRetryDelay);
    }

    public RedisBroker Broker { get; }
    public WorkerOptions Options { get; }
    public string WorkerId { get; }
    /// <summary>The worker's name, as its records say (WorkerOptions.WorkerName, the host name by default).</summary>
    public string WorkerName => Options.WorkerName is { Length: > 0 } name ? name : Environment.MachineName;
    public LeaseBook Book { get; }
    public WorkerCounters Counters { get; }
    public Acknowledger Acknowledger { get; }
    public IWorkerLog Log { get; }
    public Func<ITaskExecutor> ExecutorFactory { get; }
    public RetryPolicy RetryPolicy { get; }
    /// <summary>Leased tasks waiting for a slot, filled by the dispatcher.</summary>
    public QuietQueue<LeasedTask> Ready { get; }
    /// <summary>The worker is stopping: tasks taken from now on are handed back unstarted.</summary>
    public Func<bool> Stopping { get; }
    /// <summary>A task left its slot (run, failed or handed back): the dispatcher may lease more.</summary>
    public Action TaskLeft { get; }
    /// <summary>Signalled by each slot once its runspace is open (or failed to open).</summary>
    public CountdownEvent Opening { get; }
    /// <summary>Fires when running tasks must stop: the drain timeout of a shutdown ran out.</summary>
    public CancellationToken Interrupt { get; }

    // The queues' caps on attempts (Set-TqQueue -MaxAttempts), read when an attempt fails, at most every 2 s per queue.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (int Cap, DateTime ReadAt)> _attemptCaps = new();
    private static readonly TimeSpan AttemptCapAge = TimeSpan.FromSeconds(2);

    /// <summary>The most attempts a task of this queue or shard gets (int.MaxValue without a cap); unknown when Redis does not answer.</summary>
    public int AttemptCap(string queue)
    {
        if (_attemptCaps.TryGetValue(queue, out var known) && DateTime.UtcNow - known.ReadAt < AttemptCapAge) return known.Cap;
        try
        {
            var cap = Broker.Limits.GetMaxAttemptsAsync(queue).GetAwaiter().GetResult() ?? int.MaxValue;
            _attemptCaps[queue] = (cap, DateTime.UtcNow);
            return cap;
        }
        catch (Exception)
        {
            // Redis cut off or slow: the last cap read, else none; the failure is still recorded (the acknowledger retries).
            return known.Cap == 0 ? int.MaxValue : known.Cap;
        }
    }
}

using System;
using System.Linq;
using TaskQueue.Core.Broker;

namespace TaskQueue.Core.Worker;

/// <summary>
/// Every worker recovers for all: moves the tasks of its queues whose lease ran out (their worker died or hung)
/// back to the front of their pending list, where the next fetch takes them (each alone, as a suspect). A worker
/// recovers a queue when the first lease it knows of there runs out, not on a timer.
/// </summary>
internal sealed class Recoverer
{
    private readonly RedisBroker _broker;
    private readonly IWorkerLog _log;

    public Recoverer(RedisBroker broker, IWorkerLog log)
    {
        _broker = broker;
        _log = log;
    }

    /// <summary>Recovers the expired leases of a queue: how many tasks went back, and when the next lease runs out (null: none is held).</summary>
    public (int Recovered, DateTimeOffset? NextDeadline) Recover(string queue)
    {
        var (recovered, next) = _broker.RecoverExpiredAsync(queue).GetAwaiter().GetResult();
        if (recovered.Length > 0)
            _log.Warning($"Recovered {recovered.Length} task(s) of queue '{queue}' whose worker stopped renewing its lease ({string.Join(", ", recovered.Select(r => r.Worker).Distinct().Take(3))}): {string.Join(", ", recovered.Select(r => r.Id).Take(5))}{(recovered.Length > 5 ? ", ..." : "")}.");
        return (recovered.Length, next);
    }
}

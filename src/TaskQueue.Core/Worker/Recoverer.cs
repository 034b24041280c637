using System.Collections.Generic;
using System.Linq;
using TaskQueue.Core.Broker;

namespace TaskQueue.Core.Worker;

/// <summary>
/// Every worker recovers for all: moves the tasks of its queues whose lease ran out (their worker died or hung)
/// back to the front of their pending list, where the next fetch takes them (each alone, as a suspect).
/// </summary>
internal sealed class Recoverer
{
    private readonly RedisBroker _broker;
    private readonly IReadOnlyList<string> _queues;
    private readonly IWorkerLog _log;

    public Recoverer(RedisBroker broker, IReadOnlyList<string> queues, IWorkerLog log)
    {
        _broker = broker;
        _queues = queues;
        _log = log;
    }

    /// <summary>Recovers the expired leases of every queue; returns how many tasks went back.</summary>
    public int RecoverExpired()
    {
        var total = 0;
        foreach (var queue in _queues)
        {
            var recovered = _broker.RecoverAsync(queue).GetAwaiter().GetResult();
            if (recovered.Length == 0) continue;
            total += recovered.Length;
            _log.Warning($"Recovered {recovered.Length} task(s) of queue '{queue}' whose worker stopped renewing its lease ({string.Join(", ", recovered.Select(r => r.Worker).Distinct().Take(3))}): {string.Join(", ", recovered.Select(r => r.Id).Take(5))}{(recovered.Length > 5 ? ", ..." : "")}.");
        }
        return total;
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>The heartbeat: renews the leases this worker holds, publishes its description, relays cancellations, and trims the C heap.</summary>
public sealed partial class TaskWorker
{
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
                    // By id: the same id may be held twice for a moment (handed back, or recovered, and leased again).
                    var asked = group.ToLookup(t => t.Id);
                    var (lost, canceled) = await _broker.ExtendAsync(group.Key, WorkerId, asked.Select(g => g.Key).ToList(), deadline).ConfigureAwait(false);
                    // A task whose outcome was written while the heartbeat was on its way is not lost: only one still held
                    // and not being finished is. Read in this order: a finished task leaves _held before _awaitingAck (LetGo).
                    var stillHeld = lost.Where(id => asked[id].Any(t => !_awaitingAck.ContainsKey(t) && _held.ContainsKey(t))).ToList();
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
            NativeHeap.Trim();
            try { await Task.Delay(_options.HeartbeatInterval, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Stops a task this worker runs or holds, when Stop-TqTask asked (pub/sub message or heartbeat).</summary>
    private void RequestCancel(string queue, string id)
    {
        var task = _held.Keys.FirstOrDefault(t => t.Queue == queue && t.Id == id);
        if (task is null) return;
        _cancelRequested[task] = 0;
        foreach (var slot in _slotStates) slot.CancelIfRunning(task);
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;

namespace TaskQueue.Core.Worker;

/// <summary>
/// Every <see cref="WorkerOptions.HeartbeatInterval"/> (a third of the lease time by default): renews the leases the
/// worker holds, warns of those it lost, passes on the cancellations Redis keeps for its tasks, publishes the worker's
/// description for Get-TqWorker, and trims the C heap.
/// </summary>
internal sealed class Heartbeat
{
    private readonly RedisBroker _broker;
    private readonly LeaseBook _book;
    private readonly WorkerCounters _counters;
    private readonly WorkerOptions _options;
    private readonly WorkerInfo _info;
    private readonly IWorkerLog _log;
    private readonly Action<string, string> _cancel;

    /// <param name="cancel">Stops a held task (queue, id) whose cancellation Redis says was asked.</param>
    public Heartbeat(RedisBroker broker, LeaseBook book, WorkerCounters counters, WorkerOptions options, WorkerInfo info, IWorkerLog log, Action<string, string> cancel)
    {
        _broker = broker;
        _book = book;
        _counters = counters;
        _options = options;
        _info = info;
        _log = log;
        _cancel = cancel;
    }

    /// <summary>Beats until <paramref name="stop"/> fires.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var began = LeaseBook.MonotonicMs;
            try
            {
                await BeatAsync().ConfigureAwait(false);
                // A beat that took longer than the interval between beats met a stalled or cut-off Redis.
                if (LeaseBook.MonotonicMs - began > _options.HeartbeatInterval.TotalMilliseconds) _book.NoteRedisTrouble();
            }
            catch (Exception ex) when (RedisTrouble.IsConnectionProblem(ex))
            {
                // The dispatcher reports outages; leases are renewed on the next beat.
                _book.NoteRedisTrouble();
            }
            NativeHeap.Trim();
            try { await Task.Delay(_options.HeartbeatInterval, stop).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>One beat: renew, report lost leases, relay cancellations, publish the worker's description.</summary>
    public async Task BeatAsync()
    {
        var deadline = _broker.Clock.UtcNow + _options.LeaseTime;
        foreach (var group in _book.HeldByQueue())
        {
            // By id: the same id may be held twice for a moment (handed back, or recovered, and leased again).
            var asked = group.ToLookup(t => t.Id);
            var (lostIds, canceled) = await _broker.ExtendAsync(group.Key, _info.Id, asked.Select(g => g.Key).ToList(), deadline).ConfigureAwait(false);
            var gone = new HashSet<string>(lostIds);
            foreach (var task in group) task.LeaseEndsMs = gone.Contains(task.Id) ? long.MinValue : deadline.ToUnixTimeMilliseconds();
            var lost = _book.Lost(asked, lostIds);
            if (lost.Count > 0)
                _log.Warning($"This worker lost the lease of {lost.Count} task(s) of queue '{group.Key}' (it was stopped, or cut off from Redis, for longer than the lease time?); their outcomes will be dropped: {string.Join(", ", lost.Take(5))}.");
            foreach (var id in canceled) _cancel(group.Key, id);
        }
        _info.Running = _book.Count;
        _info.Processed = _counters.Processed;
        // A key added or retired in the keyring's file reaches this worker within a beat.
        if (_options.Signatures?.Refresh() is { } keyring)
        {
            if (_broker.Options.Signing is not null) _broker.Options.Signing = keyring;
            _log.Warning($"The signing keyring {keyring.Path} changed: this worker now verifies with key(s) {string.Join(", ", keyring.Keys.Select(k => k.Id))}.");
        }
        _info.KeyIds = _options.Signatures?.Keyring?.Keys.Select(k => k.Id).ToArray() ?? Array.Empty<string>();
        await _broker.Workers.HeartbeatWorkerAsync(_info, _options.LeaseTime).ConfigureAwait(false);
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Broker;

namespace TaskQueue.Core.Worker;

/// <summary>What a worker hears: wake-ups and cancellations on its queues' channels, and shard changes.</summary>
public sealed partial class TaskWorker
{
    private ISubscriber _subscriber = null!;
    private readonly List<RedisChannel> _channels = new();
    // Set at start, so that the first turn reads the shards of every queue.
    private int _shardsChanged = 1;

    /// <summary>Hears a queue's (or shard's) wake-ups and cancellations.</summary>
    private void Subscribe(string queue)
    {
        var keys = _broker.Keys(queue);
        var wake = RedisChannel.Literal(keys.WakeChannel);
        var cancel = RedisChannel.Literal(keys.CancelChannel);
        _subscriber.Subscribe(wake, (_, message) =>
        {
            if (_watch.Heard(queue, message)) Interlocked.Exchange(ref _shardsChanged, 1);
            Wake();
        });
        _subscriber.Subscribe(cancel, (_, id) => RequestCancel(queue, (string?)id ?? ""));
        _channels.Add(wake);
        _channels.Add(cancel);
    }

    /// <summary>Reads how many shards the queues have now, and watches and hears the new ones (Set-TqQueue -Shards).</summary>
    private void ReadShards(IEnumerable<string> queues)
    {
        foreach (var queue in queues)
        {
            _broker.Shards.Forget(queue);
            var shards = _broker.Shards.OfAsync(queue).GetAwaiter().GetResult();
            if (shards.SequenceEqual(_watch.ShardsOf(queue))) continue;
            foreach (var added in _watch.SetShards(queue, shards)) Subscribe(added);
            _log.Verbose($"Worker {WorkerId} serves queue '{queue}' in {shards.Length} shard(s).");
        }
    }

    /// <summary>Stops a task this worker runs or holds, when Stop-TqTask asked (pub/sub message or heartbeat).</summary>
    private void RequestCancel(string queue, string id)
    {
        var task = _book.Find(queue, id);
        if (task is null) return;
        _ = CancelIfRecordedAsync(queue, id, task);
    }

    // Only a cancellation recorded in Redis counts (Stop-TqTask adds the id to the canceled set as it publishes): a
    // bare PUBLISH on the cancel channel, which any Redis client may send, stops nothing.
    private async Task CancelIfRecordedAsync(string queue, string id, LeasedTask task)
    {
        try
        {
            if (!await _broker.Db.SetContainsAsync(_broker.Keys(queue).Canceled, id).ConfigureAwait(false)) return;
        }
        catch (Exception ex) when (RedisTrouble.IsConnectionProblem(ex) || ex is RedisServerException)
        {
            return;
        }
        _book.RequestCancel(task);
        foreach (var slot in _slots) slot.CancelIfRunning(task);
    }
}

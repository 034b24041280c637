using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>The live workers: each publishes its description with its heartbeat, and it expires unless refreshed.</summary>
public sealed class WorkerRegistry : BrokerStore
{
    internal WorkerRegistry(RedisBroker broker) : base(broker) { }

    /// <summary>Publishes a live worker's description; it expires unless refreshed within three lease times.</summary>
    public async Task HeartbeatWorkerAsync(Worker.WorkerInfo info, TimeSpan leaseTime)
    {
        var db = Db;
        var key = QueueKeys.Worker(info.Id);
        var now = Clock.UtcNow.ToUnixMs();
        var batch = db.CreateBatch();
        var set = batch.HashSetAsync(key, new[]
        {
            new HashEntry("host", info.Host),
            new HashEntry("pid", info.ProcessId),
            new HashEntry("queues", string.Join(",", info.Queues)),
            new HashEntry("concurrency", info.Concurrency),
            new HashEntry("started", info.StartedAt.ToUnixMs()),
            new HashEntry("running", info.Running),
            new HashEntry("processed", info.Processed),
            new HashEntry("heartbeat", now),
            new HashEntry("keys", string.Join(",", info.KeyIds)),
            new HashEntry("version", info.ModuleVersion),
            new HashEntry("name", info.WorkerName),
            new HashEntry("tags", string.Join(",", info.WorkerTag)),
        });
        var expire = batch.KeyExpireAsync(key, TimeSpan.FromTicks(leaseTime.Ticks * 3));
        var seen = batch.SortedSetAddAsync(QueueKeys.Workers, info.Id, now);
        // Ids of workers that died without unregistering: their descriptions expired long ago.
        var forgetBefore = now - (long)Math.Max(TimeSpan.FromHours(1).TotalMilliseconds, leaseTime.TotalMilliseconds * 3);
        var pruned = batch.SortedSetRemoveRangeByScoreAsync(QueueKeys.Workers, double.NegativeInfinity, forgetBefore);
        batch.Execute();
        await Task.WhenAll(set, expire, seen, pruned).ConfigureAwait(false);
    }

    public async Task UnregisterWorkerAsync(string workerId)
    {
        var db = Db;
        await Task.WhenAll(db.KeyDeleteAsync(QueueKeys.Worker(workerId)), db.SortedSetRemoveAsync(QueueKeys.Workers, workerId)).ConfigureAwait(false);
    }

    /// <summary>The live workers, as they last described themselves (<see cref="HeartbeatWorkerAsync"/>).</summary>
    public Task<IReadOnlyList<Worker.WorkerInfo>> GetWorkersAsync() => GetWorkersAsync<Worker.WorkerInfo>();

    /// <summary>
    /// The live workers (those whose description has not expired) as <typeparamref name="T"/>: a caller's own record
    /// type that extends <see cref="Worker.WorkerInfo"/> is filled in place, not copied field by field.
    /// </summary>
    public async Task<IReadOnlyList<T>> GetWorkersAsync<T>() where T : Worker.WorkerInfo, new()
    {
        var db = Db;
        var ids = await db.SortedSetRangeByRankAsync(QueueKeys.Workers).ConfigureAwait(false);
        var hashes = await Task.WhenAll(ids.Select(id => db.HashGetAllAsync(QueueKeys.Worker(id!)))).ConfigureAwait(false);
        var workers = new List<T>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            if (hashes[i].Length == 0) continue;
            var fields = hashes[i].ToDictionary(e => (string)e.Name!, e => (string?)e.Value ?? "");
            string Field(string name) => fields.TryGetValue(name, out var value) ? value : "";
            long Number(string name) => long.TryParse(Field(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
            workers.Add(new T
            {
                Id = ids[i]!,
                Host = Field("host"),
                ProcessId = (int)Number("pid"),
                Queues = Field("queues").Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries),
                Concurrency = (int)Number("concurrency"),
                StartedAt = ClockExtensions.FromUnixMs(Number("started")),
                Running = (int)Number("running"),
                Processed = Number("processed"),
                LastSeen = ClockExtensions.FromUnixMs(Number("heartbeat")),
                KeyIds = Field("keys").Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries),
                ModuleVersion = Field("version"),
                WorkerName = Field("name") is { Length: > 0 } name ? name : Field("host"),
                WorkerTag = Field("tags").Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries),
            });
        }
        return workers;
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Sharded queues: one logical queue kept as n queues of their own hash tags (<c>q</c>, <c>q~1</c>, ... <c>q~n-1</c>),
/// which a Redis Cluster spreads over its masters, so one busy queue is not bound by one Redis core. A task's shard
/// follows from its unique key, or else its id, so a lookup by id goes to one shard; counts and records are read from
/// every shard and added up. An unsharded queue is its own only shard and reads and writes as before.
/// </summary>
public sealed class ShardRouter : BrokerStore
{
    public const int MaxShards = 256;

    /// <summary>
    /// Marks a shard of a sharded queue: shard 0 of queue q is q itself, shard i is <c>q~i</c>, with keys of its own
    /// hash tag (so another cluster slot). The mark is outside the queue-name alphabet, so no queue can take a shard's name.
    /// </summary>
    public const char ShardMark = '~';

    /// <summary>The name of shard <paramref name="index"/> of a queue.</summary>
    public static string Shard(string queue, int index) =>
        index == 0 ? queue : queue + ShardMark + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The queue a shard belongs to (a queue's own name for an unsharded queue or shard 0).</summary>
    public static string Logical(string name)
    {
        var mark = name.IndexOf(ShardMark);
        return mark < 0 ? name : name.Substring(0, mark);
    }

    /// <summary>Whether the name is a shard beyond the first (<c>q~i</c>).</summary>
    public static bool IsShard(string name) => name.IndexOf(ShardMark) >= 0;

    /// <summary>A queue name, or the name of one of its shards (for the key owner).</summary>
    internal static void ValidateStored(string? name)
    {
        var mark = name?.IndexOf(ShardMark) ?? -1;
        if (mark < 0)
        {
            QueueName.Validate(name);
            return;
        }
        QueueName.Validate(name!.Substring(0, mark));
        var index = name.Substring(mark + 1);
        if (index.Length == 0 || index.Length > 4 || !index.All(char.IsDigit) || index[0] == '0')
            throw new ArgumentException($"'{name}' is not the name of a queue's shard.", nameof(name));
    }

    /// <summary>How long a process trusts the shard count it read (senders place tasks by it).</summary>
    public static readonly TimeSpan CacheTime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (int Count, DateTime ReadAt)> _counts = new(StringComparer.Ordinal);

    internal ShardRouter(RedisBroker broker) : base(broker) { }

    /// <summary>The number of shards of a queue (1 when it is not sharded, and for a shard's own name).</summary>
    public async Task<int> CountAsync(string queue)
    {
        if (ShardRouter.IsShard(queue)) return 1;
        if (_counts.TryGetValue(queue, out var known) && DateTime.UtcNow - known.ReadAt < CacheTime) return known.Count;
        var stored = await Db.StringGetAsync(Keys(queue).Shards).ConfigureAwait(false);
        var count = stored.HasValue && int.TryParse((string?)stored, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 1 ? Math.Min(n, MaxShards) : 1;
        _counts[queue] = (count, DateTime.UtcNow);
        return count;
    }

    /// <summary>Forgets the count read for a queue: the next read asks Redis (a worker told that it changed).</summary>
    public void Forget(string queue) => _counts.TryRemove(queue, out _);

    /// <summary>The names of a queue's shards, shard 0 (the queue's own name) first.</summary>
    public async Task<string[]> OfAsync(string queue)
    {
        var count = await CountAsync(queue).ConfigureAwait(false);
        return Enumerable.Range(0, count).Select(i => ShardRouter.Shard(queue, i)).ToArray();
    }

    /// <summary>
    /// The same call on every shard of a queue, the shards at once, the answers in shard order: the one place a read
    /// or change fans out over a sharded queue (an unsharded queue is one call on its own name).
    /// </summary>
    public async Task<T[]> EachAsync<T>(string queue, Func<string, Task<T>> call)
    {
        var shards = await OfAsync(queue).ConfigureAwait(false);
        if (shards.Length == 1) return new[] { await call(shards[0]).ConfigureAwait(false) };
        return await Task.WhenAll(shards.Select(call)).ConfigureAwait(false);
    }

    /// <summary>
    /// Sets the number of shards. Fewer shards than now are refused while a shard that would go holds live tasks
    /// (pending, scheduled, active or retrying): nothing would serve them. Workers pick the change up at once.
    /// </summary>
    public async Task SetAsync(string queue, int count)
    {
        QueueName.Validate(queue);
        if (count < 1 || count > MaxShards) throw new ArgumentOutOfRangeException(nameof(count), count, $"A queue has 1 to {MaxShards} shards.");
        _counts.TryRemove(queue, out _);
        var now = await CountAsync(queue).ConfigureAwait(false);
        for (var i = count; i < now; i++)
        {
            var shard = ShardRouter.Shard(queue, i);
            var counts = await Broker.Reads.CountOneAsync<Model.QueueCounts>(shard).ConfigureAwait(false);
            var live = counts.Pending + counts.Scheduled + counts.Active + counts.Retrying;
            if (live > 0)
                throw new InvalidOperationException($"Queue '{queue}' keeps {now} shards: shard '{shard}' still holds {live} live task(s). Let the workers drain it, then set fewer shards.");
        }
        if (count != now) await Broker.Limits.SplitForAsync(queue, now, count).ConfigureAwait(false);
        var k = Keys(queue);
        if (count == 1) await Db.KeyDeleteAsync(k.Shards).ConfigureAwait(false);
        else await Db.StringSetAsync(k.Shards, count.ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
        await Db.SetAddAsync(QueueKeys.Queues, queue).ConfigureAwait(false);
        _counts[queue] = (count, DateTime.UtcNow);
        // Running workers read the new count when they hear this on the queue's own channel.
        await Db.PublishAsync(RedisChannel.Literal(k.WakeChannel), ShardsMessage).ConfigureAwait(false);
    }

    /// <summary>The message on shard 0's wake channel that says the number of shards changed.</summary>
    public const string ShardsMessage = "shards";

    /// <summary>The shard a task goes to: by its unique key (so one key is held in one place), else by its id.</summary>
    public static string Place(string queue, int count, string id, string? uniqueKey)
    {
        if (count <= 1) return queue;
        var key = string.IsNullOrEmpty(uniqueKey) ? id : uniqueKey!;
        // FNV-1a over the UTF-8 bytes: stable across processes and versions (string.GetHashCode is not).
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(key)) hash = (hash ^ b) * 16777619u;
        return ShardRouter.Shard(queue, (int)(hash % (uint)count));
    }

    /// <summary>
    /// The shard that holds a task: where its id places it when it is there (as nearly every task is), else the shard
    /// that has it (placed by its unique key, or before the shard count changed); where its id places it when none has.
    /// </summary>
    public async Task<string> LocateAsync(string queue, string id)
    {
        var count = await CountAsync(queue).ConfigureAwait(false);
        var placed = Place(queue, count, id, null);
        if (count == 1) return placed;
        if (await HoldsAsync(placed, id).ConfigureAwait(false)) return placed;
        // Placed elsewhere by a unique key: the other shards asked at once, the first that holds it answers.
        var others = (await OfAsync(queue).ConfigureAwait(false)).Where(s => s != placed).ToArray();
        var holds = await Task.WhenAll(others.Select(s => HoldsAsync(s, id))).ConfigureAwait(false);
        var at = Array.IndexOf(holds, true);
        return at >= 0 ? others[at] : placed;
    }

    private async Task<bool> HoldsAsync(string shard, string id)
    {
        var k = Keys(shard);
        var db = Db;
        var body = db.HashExistsAsync(k.Tasks, id);
        var success = db.SortedSetScoreAsync(k.Succeeded, id);
        var failure = db.SortedSetScoreAsync(k.Failed, id);
        return await body.ConfigureAwait(false) || (await success.ConfigureAwait(false)).HasValue || (await failure.ConfigureAwait(false)).HasValue;
    }
}

using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>Counters of finished tasks: per minute (the dashboard's chart) and in total (Prometheus counters).</summary>
public sealed class QueueStatistics : BrokerStore
{
    internal QueueStatistics(RedisBroker broker) : base(broker) { }

    /// <summary>How long per-minute throughput counters are kept.</summary>
    public static readonly TimeSpan ThroughputRetention = TimeSpan.FromHours(48);

    /// <summary>Counts finished tasks of the current minute (the dashboard's history); fire and forget.</summary>
    public void CountFinished(string queue, long succeeded, long failed)
    {
        var now = Clock.UtcNow;
        var key = Keys(queue).Throughput(now);
        var minute = (now.ToUnixTimeSeconds() / 60 % 60).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var db = Db;
        if (succeeded > 0) db.HashIncrement(key, minute + "s", succeeded, CommandFlags.FireAndForget);
        if (failed > 0) db.HashIncrement(key, minute + "f", failed, CommandFlags.FireAndForget);
        db.KeyExpire(key, ThroughputRetention, CommandFlags.FireAndForget);
        var totals = Keys(queue).Totals;
        if (succeeded > 0) db.HashIncrement(totals, "succeeded", succeeded, CommandFlags.FireAndForget);
        if (failed > 0) db.HashIncrement(totals, "failed", failed, CommandFlags.FireAndForget);
    }

    /// <summary>Tasks that ever succeeded and failed for good in a queue, as counted by its workers.</summary>
    public async Task<(long Succeeded, long Failed, long BadSignature)> GetTotalsAsync(string queue)
    {
        var each = await Broker.Shards.EachAsync(queue, GetTotalsOneAsync).ConfigureAwait(false);
        return (each.Sum(t => t.Succeeded), each.Sum(t => t.Failed), each.Sum(t => t.BadSignature));
    }

    private async Task<(long Succeeded, long Failed, long BadSignature)> GetTotalsOneAsync(string queue)
    {
        var values = await Db.HashGetAsync(Keys(queue).Totals, new RedisValue[] { "succeeded", "failed", "badSignature" }).ConfigureAwait(false);
        return ((long?)values[0] ?? 0, (long?)values[1] ?? 0, (long?)values[2] ?? 0);
    }

    /// <summary>The field of the totals hash that counts tasks handed back for their envelope version.</summary>
    public const string HandedBackForVersionField = "handedBackForVersion";

    /// <summary>Counts tasks a worker handed back because it cannot read their envelope version (Get-TqQueue); fire and forget.</summary>
    public void CountHandedBackForVersion(string queue, long count) =>
        Db.HashIncrement(Keys(queue).Totals, HandedBackForVersionField, count, CommandFlags.FireAndForget);

    /// <summary>Counts a task or schedule refused for its signature (the /metrics counter); fire and forget.</summary>
    public void CountBadSignature(string queue) =>
        Db.HashIncrement(Keys(queue).Totals, "badSignature", 1, CommandFlags.FireAndForget);

    /// <summary>Tasks succeeded and failed per minute over the last <paramref name="minutes"/> minutes, oldest first.</summary>
    public async Task<IReadOnlyList<(DateTimeOffset Minute, long Succeeded, long Failed)>> GetThroughputAsync(string queue, int minutes)
    {
        var each = await Broker.Shards.EachAsync(queue, s => GetThroughputOneAsync(s, minutes)).ConfigureAwait(false);
        if (each.Length == 1) return each[0];
        return each[0].Select((point, i) => (point.Minute, each.Sum(e => i < e.Count ? e[i].Succeeded : 0), each.Sum(e => i < e.Count ? e[i].Failed : 0))).ToList();
    }

    private async Task<IReadOnlyList<(DateTimeOffset Minute, long Succeeded, long Failed)>> GetThroughputOneAsync(string queue, int minutes)
    {
        var k = Keys(queue);
        var now = Clock.UtcNow;
        var firstMinute = now.ToUnixTimeSeconds() / 60 - minutes + 1;
        var hours = new Dictionary<long, Task<HashEntry[]>>();
        for (var m = firstMinute; m <= now.ToUnixTimeSeconds() / 60; m++)
        {
            var hour = m / 60;
            if (!hours.ContainsKey(hour)) hours[hour] = Db.HashGetAllAsync(k.Throughput(DateTimeOffset.FromUnixTimeSeconds(hour * 3600)));
        }
        await Task.WhenAll(hours.Values).ConfigureAwait(false);
        var series = new List<(DateTimeOffset, long, long)>(minutes);
        for (var m = firstMinute; m <= now.ToUnixTimeSeconds() / 60; m++)
        {
            var fields = hours[m / 60].Result;
            var name = (m % 60).ToString(System.Globalization.CultureInfo.InvariantCulture);
            long Count(string suffix) => (long)(fields.FirstOrDefault(f => f.Name == name + suffix).Value is { HasValue: true } v ? v : 0);
            series.Add((DateTimeOffset.FromUnixTimeSeconds(m * 60), Count("s"), Count("f")));
        }
        return series;
    }
}

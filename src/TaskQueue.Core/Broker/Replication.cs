using System.Threading.Tasks;
using StackExchange.Redis;
using TaskQueue.Core.Connection;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Whether writes reached replicas before they count as safe (Redis WAIT, <see cref="BrokerOptions.WaitReplicas"/>)
/// and, through Sentinel, whether a server no replica confirmed is still the primary (docs/RELIABILITY.md, "Replicas",
/// "Sentinel").
/// </summary>
public sealed class Replication
{
    private readonly RedisBroker _broker;

    internal Replication(RedisBroker broker) => _broker = broker;

    /// <summary>The server that takes the writes of <paramref name="queue"/> now: read before writing, for <see cref="WaitAsync"/>.</summary>
    public System.Net.EndPoint? PrimaryOf(string queue) => _broker.Db.IdentifyEndpoint(_broker.Keys(queue).Pending);

    /// <summary>
    /// With <see cref="BrokerOptions.WaitReplicas"/>: waits (Redis WAIT) until that many replicas of the primary that
    /// holds <paramref name="queue"/> (or of <paramref name="primary"/>, the server the writes went to) have every
    /// write this connection sent it so far, for at most <see cref="BrokerOptions.WaitReplicasTimeout"/>. Returns how
    /// many confirmed; null when no wait is asked.
    /// </summary>
    public async Task<long?> WaitAsync(string queue, System.Net.EndPoint? primary = null)
    {
        if (_broker.Options.WaitReplicas <= 0) return null;
        // WAIT counts the replicas of the server it runs on, for the writes of the connection it runs on: the one the
        // queue's writes went through. The server read before the writes: after a switch in between, the new primary
        // would answer for writes it never had.
        var server = primary is null ? _broker.Connection.GetServer(_broker.Keys(queue).Pending) : _broker.Connection.GetServer(primary);
        var confirmed = await server.ExecuteAsync("WAIT", _broker.Options.WaitReplicas, (long)_broker.Options.WaitReplicasTimeout.TotalMilliseconds).ConfigureAwait(false);
        return (long)confirmed;
    }

    /// <summary>
    /// Whether the writes this connection just sent to <paramref name="primary"/> (read with <see cref="PrimaryOf"/>
    /// before them) are safe: <see cref="BrokerOptions.WaitReplicas"/> replicas confirmed them, or, unless
    /// <paramref name="strict"/>, through Sentinel the sentinels name that server the primary with no failover under way
    /// (a new primary has no replica for its first seconds; an old one a failover leaves loses what it took).
    /// </summary>
    public async Task<(bool Safe, long Confirmed)> ConfirmWritesAsync(string queue, System.Net.EndPoint? primary, bool strict)
    {
        var sentinel = strict || primary is null ? null : _broker.Connection as ConnectionMultiplexer;
        if (sentinel is not null && SentinelFollower.IsKnownLonePrimary(sentinel, primary!)) return (true, 0);
        // No replica up, as the sentinels see it: no WAIT to sit out, only whether that server is the settled primary.
        if (sentinel is not null && SentinelFollower.KnownReplicas(sentinel) == 0)
            return (await SentinelFollower.IsSettledPrimaryAsync(sentinel, primary!).ConfigureAwait(false) == true, 0);
        var confirmed = await WaitAsync(queue, primary).ConfigureAwait(false) ?? long.MaxValue;
        if (confirmed >= _broker.Options.WaitReplicas || sentinel is null) return (confirmed >= _broker.Options.WaitReplicas, confirmed);
        return (await SentinelFollower.IsSettledPrimaryAsync(sentinel, primary!).ConfigureAwait(false) == true, confirmed);
    }
}

using System;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace TaskQueue.Core.Connection;

/// <summary>
/// Keeps a connection made through Sentinel (serviceName=) writing to the primary the sentinels name, from the moment
/// they name it.
/// </summary>
/// <remarks>
/// After a handover (SENTINEL FAILOVER, or a primary back from a pause) the old primary still says it is a primary
/// until the sentinels turn it into a replica, about 10 s later. StackExchange.Redis hears the switch but, seeing two
/// primaries, elects one of them by the votes of a tie-breaker key, and without votes it kept the old one: every write
/// of those seconds went there and was thrown away when it became a replica. So, on each switch the sentinels publish
/// (and every few seconds, in case a message was missed), this writes the name of the new primary into the tie-breaker
/// key of every server that still says it is a primary, then has the connection elect again. Writes in the few
/// milliseconds between the promotion and the sentinels' message can still reach the old primary: -WaitReplicas
/// (Redis WAIT) is what refuses to count those as stored (docs/RELIABILITY.md, "Sentinel").
/// </remarks>
internal sealed class SentinelFollower : IDisposable
{
    /// <summary>The tie-breaker key: the endpoint of the primary the sentinels named last ("host:port").</summary>
    public static readonly string TieBreakerKey = Broker.QueueKeys.Primary!;

    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);

    private readonly ConnectionMultiplexer _connection;
    private readonly ConnectionMultiplexer _sentinels;
    private readonly string _service;
    private readonly string _tieBreaker;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Timer _timer;
    private volatile int _replicas;

    /// <summary>
    /// How many replicas of the primary of <paramref name="connection"/> the sentinels saw up at the last look (at each
    /// switch and every 5 s), or null when it is not a Sentinel connection.
    /// </summary>
    public static int? KnownReplicas(ConnectionMultiplexer connection) => Followers.TryGetValue(connection, out var follower) ? follower._replicas : null;

    /// <summary>The replicas the sentinels list for the service and do not flag as down or disconnected.</summary>
    private static int ReplicasUp(ConnectionMultiplexer sentinels, string service) =>
        Ask(sentinels, sentinel => sentinel.SentinelReplicas(service))?.Count(fields =>
        {
            var flags = fields.FirstOrDefault(f => string.Equals(f.Key, "flags", StringComparison.OrdinalIgnoreCase)).Value ?? "";
            return flags.IndexOf("down", StringComparison.OrdinalIgnoreCase) < 0 && flags.IndexOf("disconnected", StringComparison.OrdinalIgnoreCase) < 0;
        }) ?? 0;

    /// <summary>The first answer a sentinel gives to <paramref name="ask"/>, asking them in turn; null when none answers.</summary>
    private static T? Ask<T>(ConnectionMultiplexer sentinels, Func<IServer, T?> ask) where T : class
    {
        foreach (var endpoint in sentinels.GetEndPoints())
        {
            try
            {
                if (ask(sentinels.GetServer(endpoint)) is { } answer) return answer;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Ask the next sentinel.
            }
        }
        return null;
    }

    private SentinelFollower(ConnectionMultiplexer connection, ConnectionMultiplexer sentinels, string service, string tieBreaker)
    {
        _connection = connection;
        _sentinels = sentinels;
        _service = service;
        _tieBreaker = tieBreaker;
        _sentinels.GetSubscriber().Subscribe(RedisChannel.Literal("+switch-master"), (_, message) => OnSwitch(message));
        _timer = new Timer(_ => _ = CheckAsync(), null, CheckEvery, CheckEvery);
        connection.ConnectionRestored += (_, _) => _ = CheckAsync();
    }

    /// <summary>
    /// Connects to the primary the sentinels of <paramref name="options"/> (which has a ServiceName) name, and to its
    /// replicas, as a plain connection that this follower moves to each new primary; the follower lives as long
    /// as the connection.
    /// </summary>
    public static ConnectionMultiplexer Connect(ConfigurationOptions options)
    {
        var sentinelOptions = options.Clone();
        sentinelOptions.User = options.SentinelUser;
        sentinelOptions.Password = options.SentinelPassword;
        var sentinels = ConnectionMultiplexer.SentinelConnect(sentinelOptions);
        try
        {
            var service = options.ServiceName!;
            var primary = NamedPrimary(sentinels, service)
                ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, $"No sentinel names a primary for service '{service}'.");
            var data = options.Clone();
            data.ServiceName = null;
            data.EndPoints.Clear();
            data.EndPoints.Add(primary);
            foreach (var replica in Replicas(sentinels, service)) data.EndPoints.TryAdd(replica);
            if (string.IsNullOrEmpty(data.TieBreaker) || data.TieBreaker == new ConfigurationOptions().TieBreaker) data.TieBreaker = TieBreakerKey;
            var connection = ConnectionMultiplexer.Connect(data);
            var follower = new SentinelFollower(connection, sentinels, service, data.TieBreaker);
            Followers.Add(connection, follower);
            follower.FollowAsync(primary).GetAwaiter().GetResult();
            return connection;
        }
        catch
        {
            sentinels.Dispose();
            throw;
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ConnectionMultiplexer, SentinelFollower> Followers = new();

    private static EndPoint[] Replicas(ConnectionMultiplexer sentinels, string service) =>
        Ask(sentinels, sentinel => sentinel.SentinelGetReplicaAddresses(service)) ?? Array.Empty<EndPoint>();

    /// <summary>
    /// Whether the sentinels of <paramref name="connection"/> name <paramref name="server"/> as the primary, with no
    /// failover under way and no one saying it is down; null when it is not a Sentinel connection. What a write that
    /// no replica confirmed may count on: a primary whose replicas are all gone (a new one, in the seconds before the
    /// sentinels turn the old one into its replica) keeps its writes, an old one that a failover is leaving does not.
    /// </summary>
    public static async Task<bool?> IsSettledPrimaryAsync(ConnectionMultiplexer connection, EndPoint server)
    {
        if (!Followers.TryGetValue(connection, out var follower)) return null;
        var settled = await follower.AskSettledAsync(server).ConfigureAwait(false);
        // Remembered for a while, so that writes to a primary with no replica (for hours after its old primary died)
        // do not each wait for WAIT to time out; until a switch, which forgets it.
        if (settled) follower._lone = new Lone(EndPointCollection.ToString(server), DateTime.UtcNow + LoneFor);
        return settled;
    }

    private static readonly TimeSpan LoneFor = TimeSpan.FromSeconds(2);
    private sealed record Lone(string Server, DateTime Until);
    private volatile Lone? _lone;

    /// <summary>
    /// Whether <paramref name="server"/> was found, within the last 2 s and since the last switch, to be the settled
    /// primary with no replica confirming writes: a write to it counts without waiting for a replica.
    /// </summary>
    public static bool IsKnownLonePrimary(ConnectionMultiplexer connection, EndPoint server) =>
        Followers.TryGetValue(connection, out var follower) && follower._lone is { } lone
        && lone.Server == EndPointCollection.ToString(server) && DateTime.UtcNow < lone.Until;

    /// <summary>
    /// Every sentinel answers and names <paramref name="server"/> with no failover under way and no one down. Not one
    /// of them: only the sentinel leading a failover flags it, and the others name the old primary until they hear of
    /// the switch, a second or two later; so a sentinel that does not answer leaves the write unconfirmed.
    /// </summary>
    private async Task<bool> AskSettledAsync(EndPoint server)
    {
        var answers = await Task.WhenAll(_sentinels.GetEndPoints().Select(async endpoint =>
        {
            try
            {
                var fields = (await _sentinels.GetServer(endpoint).SentinelMasterAsync(_service).ConfigureAwait(false))
                    .ToDictionary(f => f.Key, f => f.Value, StringComparer.OrdinalIgnoreCase);
                if (!fields.TryGetValue("ip", out var ip) || !fields.TryGetValue("port", out var port)) return (bool?)false;
                var named = EndPointCollection.TryParse(ip + ":" + port);
                var flags = fields.TryGetValue("flags", out var f) ? f : "";
                return named is not null && EndPointCollection.ToString(named) == EndPointCollection.ToString(server)
                    && flags.IndexOf("failover", StringComparison.OrdinalIgnoreCase) < 0
                    && flags.IndexOf("_down", StringComparison.OrdinalIgnoreCase) < 0;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return null;
            }
        })).ConfigureAwait(false);
        // Every sentinel must answer: the one that does not may be the one leading a failover, the only one that knows.
        return answers.Length > 0 && answers.All(a => a == true);
    }

    private void OnSwitch(RedisValue message)
    {
        // "<service> <old ip> <old port> <new ip> <new port>"
        var parts = ((string?)message ?? "").Split(' ');
        if (parts.Length < 5 || parts[0] != _service) return;
        if (EndPointCollection.TryParse(parts[3] + ":" + parts[4]) is { } primary) _ = FollowAsync(primary);
    }

    /// <summary>The primary the sentinels name, or null when none answers.</summary>
    private static EndPoint? NamedPrimary(ConnectionMultiplexer sentinels, string service) =>
        Ask(sentinels, sentinel => sentinel.SentinelGetMasterAddressByName(service));

    /// <summary>Follows the sentinels' primary when the connection writes elsewhere.</summary>
    private async Task CheckAsync()
    {
        try
        {
            var primary = NamedPrimary(_sentinels, _service);
            if (primary is null) return;
            var writesTo = _connection.GetDatabase().IdentifyEndpoint();
            // The replicas the sentinels count are those of the primary they name: they say nothing of the server
            // this connection still writes to until it follows (FollowAsync counts them once it has). Counted
            // earlier, a new primary's lack of replicas would let sends to the old one go unconfirmed and be lost.
            if (writesTo is null || EndPointCollection.ToString(writesTo) != EndPointCollection.ToString(primary)) await FollowAsync(primary).ConfigureAwait(false);
            else _replicas = ReplicasUp(_sentinels, _service);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The next check tries again.
        }
    }

    private async Task FollowAsync(EndPoint primary)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        _lone = null;
        try
        {
            var name = EndPointCollection.ToString(primary);
            // First read every server's role again: the client refuses writes to a server it still takes for a
            // replica, which the new primary was until now.
            await _connection.ConfigureAsync().ConfigureAwait(false);
            foreach (var endpoint in _connection.GetEndPoints().Append(primary).Distinct())
            {
                try
                {
                    // A replica refuses the write (READONLY) and votes with its primary's value; a server that still
                    // says it is a primary, the old one included, takes it. No ROLE: ACL users of -@dangerous lack it.
                    await _connection.GetServer(endpoint).ExecuteAsync("SET", _tieBreaker, name).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or RedisCommandException or TimeoutException or ArgumentException)
                {
                    // A replica, a server that is down (or one the connection does not know yet), or a user who may
                    // not write the key: no say of this connection in the election.
                }
            }
            await _connection.ConfigureAsync().ConfigureAwait(false);
            _replicas = ReplicasUp(_sentinels, _service);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // The next switch message or check tries again.
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _sentinels.Dispose();
    }
}

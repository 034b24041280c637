using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>What the broker's stores share: its connection, clock and queue keys, and its script calls.</summary>
public abstract class BrokerStore
{
    private protected BrokerStore(RedisBroker broker) => Broker = broker;

    private protected RedisBroker Broker { get; }
    private protected IDatabase Db => Broker.Db;
    private protected IClock Clock => Broker.Clock;
    private protected QueueKeys Keys(string queue) => Broker.Keys(queue);

    private protected System.Threading.Tasks.Task<RedisResult> RunAsync(QueueScript script, QueueKeys keys, params RedisValue[] args) =>
        Broker.RunAsync(script, keys, args);
}

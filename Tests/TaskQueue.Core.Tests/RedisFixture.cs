using StackExchange.Redis;
using TaskQueue.Core;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Tests;

/// <summary>The Redis server the suite runs against: TQ_TEST_REDIS, started by build.ps1 test.</summary>
public sealed class RedisFixture : IDisposable
{
    public RedisFixture()
    {
        var configuration = Environment.GetEnvironmentVariable("TQ_TEST_REDIS");
        if (string.IsNullOrWhiteSpace(configuration))
            throw new InvalidOperationException("TQ_TEST_REDIS is not set: run the suite with 'build.ps1 test', which starts a private Redis.");
        Connection = ConnectionMultiplexer.Connect(configuration + ",abortConnect=true,connectTimeout=5000,allowAdmin=true");
    }

    public ConnectionMultiplexer Connection { get; }
    public IDatabase Db => Connection.GetDatabase();

    public void Dispose() => Connection.Dispose();

    /// <summary>Deletes every key of a queue, on every master (one server, or each master of a cluster), and its name in tq:queues.</summary>
    public void DeleteQueue(string queue)
    {
        foreach (var server in Connection.GetServers().Where(s => !s.IsReplica))
            foreach (var key in server.Keys(pattern: QueueKeys.Prefix + "{" + queue + "}:*")) Db.KeyDelete(key);
        Db.SetRemove(QueueKeys.Queues, queue);
    }
}

[CollectionDefinition("redis")]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>
{
}

/// <summary>Collects what a worker or one of its components reports.</summary>
internal sealed class RecordingLog : TaskQueue.Core.Worker.IWorkerLog
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Warnings { get; } = new();
    public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();
    public System.Collections.Concurrent.ConcurrentQueue<TaskQueue.Core.Worker.TaskLogEntry> Outcomes { get; } = new();
    public void Info(string message) => Lines.Enqueue(message);
    public void Task(TaskQueue.Core.Worker.TaskLogEntry entry) => Outcomes.Enqueue(entry);
    public void Verbose(string message) { }
    public void Warning(string message) => Warnings.Enqueue(message);
    public void Error(string message, Exception? exception = null) => Warnings.Enqueue(message);
}

public sealed class FakeClock : IClock
{
    public DateTimeOffset UtcNow { get; set; } = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    public void Advance(TimeSpan by) => UtcNow += by;
}

/// <summary>A fresh queue per test, so tests never see each other's tasks; its keys are deleted afterwards.</summary>
public abstract class BrokerTest : IDisposable
{
    protected BrokerTest(RedisFixture redis)
    {
        Redis = redis;
        Queue = "t-" + Guid.NewGuid().ToString("N").Substring(0, 12);
        Clock = new FakeClock();
        Broker = new RedisBroker(redis.Connection, new BrokerOptions(), Clock);
        Keys = Broker.Keys(Queue);
    }

    protected RedisFixture Redis { get; }
    protected string Queue { get; }
    protected FakeClock Clock { get; }
    protected RedisBroker Broker { get; }
    protected QueueKeys Keys { get; }

    /// <summary>The commands this test's connection sent while <paramref name="act"/> ran (StackExchange.Redis's profiler).</summary>
    protected async Task<List<string>> CommandsSentDuring(Func<Task> act)
    {
        var session = new StackExchange.Redis.Profiling.ProfilingSession();
        Redis.Connection.RegisterProfiler(() => session);
        try
        {
            await act();
        }
        finally
        {
            Redis.Connection.RegisterProfiler(null!);
        }
        return session.FinishProfiling().Select(c => c.Command).ToList();
    }

    protected TaskEnvelope NewTask(string script = "param($x) $x", int maxAttempts = 3) => new()
    {
        Id = Guid.NewGuid().ToString("N"),
        Queue = Queue,
        Kind = TaskEnvelope.Kinds.Script,
        Script = script,
        MaxAttempts = maxAttempts,
        EnqueuedAt = Clock.UtcNow,
    };

    protected async Task<TaskEnvelope> EnqueueOne(int maxAttempts = 3)
    {
        var task = NewTask(maxAttempts: maxAttempts);
        var stored = await Broker.EnqueueAsync(Queue, new[] { task });
        Assert.Equal(EnqueueStatus.Stored, stored[0].Status);
        return task;
    }

    public void Dispose()
    {
        Redis.DeleteQueue(Queue);
    }
}

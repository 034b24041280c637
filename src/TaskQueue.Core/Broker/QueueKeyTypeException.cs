using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker;

/// <summary>A key of a queue holds another Redis type than TaskQueue keeps there (something else wrote it).</summary>
public sealed class QueueKeyTypeException : Exception
{
    public QueueKeyTypeException(string key, RedisType expected, RedisType actual, Exception inner)
        : base($"The Redis key '{key}' holds a {Describe(actual)}, where TaskQueue keeps a {Describe(expected)}. Another program wrote it: rename or delete that key (TaskQueue owns every key under 'tq:').", inner)
    {
        Key = key;
        Expected = expected;
        Actual = actual;
    }

    public string Key { get; }
    public RedisType Expected { get; }
    public RedisType Actual { get; }

    private static string Describe(RedisType type) => type switch
    {
        RedisType.String => "string",
        RedisType.List => "list",
        RedisType.Set => "set",
        RedisType.SortedSet => "sorted set",
        RedisType.Hash => "hash",
        RedisType.Stream => "stream",
        _ => type.ToString().ToLowerInvariant(),
    };
}

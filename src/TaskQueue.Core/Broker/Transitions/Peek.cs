using System.Collections.Generic;
using System.Linq;
using StackExchange.Redis;

namespace TaskQueue.Core.Broker.Transitions;

/// <summary>peek.lua (read only): envelopes up to a size, for views. Its keys, arguments and reply.</summary>
internal static class Peek
{
    public static readonly QueueScript Script = QueueScript.Load("peek.lua", k => new[] { k.Tasks }, readOnly: true);

    public static RedisValue[] Args(int largest, IEnumerable<RedisValue> ids) => ids.Prepend(largest).ToArray();

    /// <summary>Per id: the envelope (null when missing or larger than asked) and its size in bytes.</summary>
    public static (RedisValue[] Envelopes, long[] Sizes) Read(RedisResult reply)
    {
        var peeked = (RedisResult[])reply!;
        var envelopes = peeked.Select(r => r.Resp2Type == ResultType.BulkString ? (RedisValue)r : RedisValue.Null).ToArray();
        var sizes = peeked.Select((r, i) => envelopes[i].HasValue ? ((byte[])envelopes[i]!).Length : (long)r).ToArray();
        return (envelopes, sizes);
    }
}

using System;
using System.Linq;
using StackExchange.Redis;

namespace TaskQueue.Core.Worker;

/// <summary>How a worker tells Redis being away (it waits and retries) from Redis refusing a command, and says so briefly.</summary>
internal static class RedisTrouble
{
    /// <summary>Redis is unreachable, still loading, or a replica or a master without its replicas for now: worth waiting for.</summary>
    public static bool IsConnectionProblem(Exception ex) =>
        ex is RedisConnectionException or RedisTimeoutException or TimeoutException or ObjectDisposedException
        || (ex is RedisServerException server && (server.Message.StartsWith("LOADING") || server.Message.StartsWith("MASTERDOWN") || server.Message.StartsWith("READONLY")))
        || (ex is AggregateException agg && agg.InnerExceptions.Any(IsConnectionProblem));

    /// <summary>The first clause of a client message: StackExchange.Redis appends a page of connection state.</summary>
    public static string Short(string message)
    {
        var end = message.IndexOf(';');
        var text = end > 0 ? message.Substring(0, end) : message;
        return text.Length > 200 ? text.Substring(0, 200) + "..." : text;
    }
}

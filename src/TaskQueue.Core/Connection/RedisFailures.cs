using System;
using StackExchange.Redis;

namespace TaskQueue.Core.Connection;

/// <summary>
/// Tells callers outside the engine what kind of failure an exception is, so that they never name the Redis
/// client's types: the engine and its client library load into a context of their own (docs/INSTALL.md).
/// </summary>
public static class RedisFailures
{
    /// <summary>
    /// Redis failed, refused or did not answer in time (a connection, timeout or server error), or a queue key holds
    /// another Redis type than the layout's (<see cref="Broker.QueueKeyTypeException"/>, which names the key). The one
    /// filter the cmdlets use, so that none of them lets one of these through as an unhandled exception.
    /// </summary>
    public static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException or Broker.QueueKeyTypeException;

    /// <summary>Redis answered with an error (the server refused the command), as opposed to not answering.</summary>
    public static bool IsRefusal(Exception ex) => ex is RedisServerException;
}

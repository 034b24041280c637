using System;

namespace TaskQueue.Core.Worker;

/// <summary>Exponential backoff with jitter: attempt n waits base * 2^(n-1), capped, scaled by a random 50-100%.</summary>
public sealed class RetryPolicy
{
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private readonly Random _random;

    public RetryPolicy(TimeSpan baseDelay, TimeSpan maxDelay, Random? random = null)
    {
        _baseDelay = baseDelay;
        _maxDelay = maxDelay;
        _random = random ?? new Random();
    }

    public TimeSpan DelayAfter(int attempt)
    {
        var exponent = Math.Min(Math.Max(attempt - 1, 0), 30);
        var ms = Math.Min(_maxDelay.TotalMilliseconds, _baseDelay.TotalMilliseconds * Math.Pow(2, exponent));
        double jitter;
        lock (_random) jitter = 0.5 + _random.NextDouble() * 0.5;
        return TimeSpan.FromMilliseconds(ms * jitter);
    }
}

using TaskQueue.Core.Worker;

namespace TaskQueue.Core.Tests;

public sealed class RetryPolicyTests
{
    [Fact]
    public void Retry_delays_grow_exponentially_with_jitter_and_a_cap()
    {
        var policy = new RetryPolicy(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), new Random(1));
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            var full = Math.Min(30, 2 * Math.Pow(2, attempt - 1));
            var delay = policy.DelayAfter(attempt).TotalSeconds;
            Assert.InRange(delay, full * 0.5, full);
        }
    }
}

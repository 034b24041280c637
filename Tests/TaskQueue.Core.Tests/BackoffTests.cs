using System;
using System.Linq;
using TaskQueue.Core.Worker;
using Xunit;

namespace TaskQueue.Core.Tests;

public sealed class BackoffTests
{
    [Fact]
    public void A_worker_waits_250_ms_after_a_failed_round_then_twice_as_long_each_time_up_to_5_s_and_250_ms_again_once_Redis_answered()
    {
        var backoff = new Backoff();
        var waits = Enumerable.Range(0, 8).Select(_ => (int)backoff.Next().TotalMilliseconds).ToArray();
        Assert.Equal(new[] { 250, 500, 1000, 2000, 4000, 5000, 5000, 5000 }, waits);
        backoff.Reset();
        Assert.Equal(TimeSpan.FromMilliseconds(250), backoff.Next());
        Assert.Equal(TimeSpan.FromMilliseconds(500), backoff.Next());
    }
}

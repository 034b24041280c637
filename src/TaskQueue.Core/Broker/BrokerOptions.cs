using System;

namespace TaskQueue.Core.Broker;

/// <summary>Retention of records; the defaults are documented in docs/PROTOCOL.md.</summary>
public sealed class BrokerOptions
{
    /// <summary>Success records older than this are removed (default 7 days).</summary>
    public TimeSpan SuccessRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Failure records older than this are removed by the workers of their queue, within a minute (default 30 days).</summary>
    public TimeSpan FailureRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>At most this many success records are kept per queue, newest first (default 10,000).</summary>
    public int MaxSuccessRecords { get; set; } = 10_000;

    /// <summary>At most this many failure records are kept per queue; the oldest go first (default 100,000).</summary>
    public int MaxFailureRecords { get; set; } = 100_000;

    /// <summary>The largest envelope (JSON bytes) a task may have: bigger ones are refused at enqueue (default 1 MiB).</summary>
    public int MaxTaskBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Tasks per atomic call (MULTI/EXEC or the enqueue script) when enqueuing in bulk (default 1,000). Each call costs
    /// a round trip, a transaction and the thread-pool wake-ups of its write and reply: batches of 1,000 rather than
    /// 200 lowered both the client's and Redis's CPU per task by about a tenth.
    /// </summary>
    public int EnqueueBatchSize { get; set; } = 1000;

    /// <summary>
    /// Replicas that must confirm a write before it counts as safe (Redis WAIT after a send and after each batch of
    /// outcomes; 0, the default, waits for none). Replication is asynchronous: a failover can drop writes the old
    /// primary acknowledged but had not passed on yet (docs/RELIABILITY.md, "Replicas").
    /// </summary>
    public int WaitReplicas { get; set; }

    /// <summary>How long a write waits for <see cref="WaitReplicas"/> replicas to confirm it (default 2 s, below the connection's 5 s command timeout).</summary>
    public TimeSpan WaitReplicasTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>When set, every task and schedule this broker stores is signed with the keyring's signing key (docs/SECURITY.md).</summary>
    public Security.SigningKeyring? Signing { get; set; }
}

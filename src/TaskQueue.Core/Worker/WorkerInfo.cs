using System;
using System.Collections.Generic;

namespace TaskQueue.Core.Worker;

/// <summary>What a live worker publishes about itself in Redis (tq:worker:{id}).</summary>
public class WorkerInfo
{
    public string Id { get; set; } = "";
    public string Host { get; set; } = "";
    public int ProcessId { get; set; }
    public IReadOnlyList<string> Queues { get; set; } = Array.Empty<string>();
    public int Concurrency { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    /// <summary>Tasks it was running at its last heartbeat.</summary>
    public int Running { get; set; }
    /// <summary>Tasks it processed since it started, at its last heartbeat.</summary>
    public long Processed { get; set; }
    /// <summary>The ids of the keys its keyring verifies with (empty: it checks no signatures).</summary>
    public IReadOnlyList<string> KeyIds { get; set; } = Array.Empty<string>();
    /// <summary>When the worker last published this (its heartbeat); set when read back from Redis.</summary>
    public DateTimeOffset? LastSeen { get; set; }
}

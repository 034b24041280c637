using System;
using System.Collections.Generic;

namespace TaskQueue.Core.Worker;

/// <summary>What a live worker publishes about itself in Redis (tq:worker:{id}).</summary>
public class WorkerInfo
{
    public string Id { get; set; } = "";
    public string Host { get; set; } = "";
    /// <summary>
    /// The worker's name (Start-TqWorker -WorkerName; the host name by default): what records say ran a task. Several
    /// workers may share a name (a pool). Empty for workers older than 0.3.0, which read as their host.
    /// </summary>
    public string WorkerName { get; set; } = "";
    /// <summary>The worker's tags (Start-TqWorker -WorkerTag): what a broadcast can select workers by.</summary>
    public IReadOnlyList<string> WorkerTag { get; set; } = Array.Empty<string>();
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
    /// <summary>
    /// The TaskQueue version the worker runs (the module's version; empty for workers older than 0.3.0, which did not
    /// publish it): what a rolling upgrade of a fleet looks at (docs/PROTOCOL.md "Versions").
    /// </summary>
    public string ModuleVersion { get; set; } = "";
    /// <summary>When the worker last published this (its heartbeat); set when read back from Redis.</summary>
    public DateTimeOffset? LastSeen { get; set; }

    /// <summary>The engine's version as built (build.ps1 passes the module's version; a plain build says 1.0.0).</summary>
    public static string EngineVersion { get; } = ReadEngineVersion();

    private static string ReadEngineVersion()
    {
        var attribute = (System.Reflection.AssemblyInformationalVersionAttribute?)Attribute.GetCustomAttribute(typeof(WorkerInfo).Assembly, typeof(System.Reflection.AssemblyInformationalVersionAttribute));
        var version = attribute?.InformationalVersion ?? typeof(WorkerInfo).Assembly.GetName().Version?.ToString() ?? "";
        // A build from git may add '+<commit>'.
        var plus = version.IndexOf('+');
        return plus < 0 ? version : version.Substring(0, plus);
    }
}

using System;
using System.Collections.Generic;

namespace TaskQueue.Core.Worker;

public sealed class WorkerOptions
{
    /// <summary>Queues to serve, highest priority first.</summary>
    public IReadOnlyList<string> Queues { get; set; } = new[] { "default" };

    /// <summary>Tasks run at the same time (one executor each).</summary>
    public int Concurrency { get; set; } = Environment.ProcessorCount;

    /// <summary>Drain the queues, then return.</summary>
    public bool Burst { get; set; }

    /// <summary>How long a fetched task stays leased without a heartbeat; a dead worker's tasks come back after this.</summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>On shutdown, how long running tasks may finish before they are stopped and handed back.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Delay before the first retry; doubled per attempt, with jitter, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A task whose worker died while running it this many times becomes a failure record instead of running again (default 3).</summary>
    public int MaxRecoveries { get; set; } = 3;

    /// <summary>
    /// A task that became due longer ago than this fails as Expired without running (Security.TaskFreshness): stored
    /// bytes replayed later never run. Zero turns the check off.
    /// </summary>
    public TimeSpan MaxTaskAge { get; set; } = Security.TaskFreshness.DefaultMaxAge;

    /// <summary>Which task outcomes the worker writes a line for (<see cref="IWorkerLog.Task"/>); none by default here, Start-TqWorker chooses.</summary>
    public TaskLogLevel TaskLog { get; set; } = TaskLogLevel.None;

    /// <summary>
    /// Keep each task's stream log (what it writes to Output, Error, Warning, Verbose, Debug, Information and Progress,
    /// in order, live: Get-TqTaskLog, Receive-TqTask). On by default; a task that writes nothing costs nothing either way.
    /// </summary>
    public bool CaptureStreams { get; set; } = true;

    /// <summary>The worker's name: what its records say ran a task (TaskResult.WorkerName). Defaults to the host name.</summary>
    public string? WorkerName { get; set; }

    /// <summary>The worker's tags, published with its description (Get-TqWorker).</summary>
    public IReadOnlyList<string> WorkerTags { get; set; } = Array.Empty<string>();

    /// <summary>Unique id of this worker; defaults to host:pid:random.</summary>
    public string? WorkerId { get; set; }

    /// <summary>
    /// How often an idle worker looks at one of its queues in full, in turn, without being told to: the safety net for
    /// a wake-up message lost while the connection stayed up. Messages, due times and lease deadlines drive the worker
    /// otherwise, so its idle cost does not grow with its queues. With one queue, it is looked at this often.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Which tasks may run: with a keyring, only those it verifies (docs/SECURITY.md); null runs any task unchecked.</summary>
    public Security.SignaturePolicy? Signatures { get; set; }

    private TimeSpan? _heartbeatInterval;

    /// <summary>How often the heartbeat renews the leases and describes the worker (default: a third of the lease time, at least 100 ms).</summary>
    public TimeSpan HeartbeatInterval
    {
        get => _heartbeatInterval ?? TimeSpan.FromMilliseconds(Math.Max(100, LeaseTime.TotalMilliseconds / 3));
        set => _heartbeatInterval = value;
    }
}

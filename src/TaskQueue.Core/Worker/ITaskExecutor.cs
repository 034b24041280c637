using System;
using System.Collections.Generic;
using System.Threading;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>
/// Runs tasks for one worker slot, one at a time, on the slot's own thread.
/// The PowerShell module implements it with a reused runspace; Core knows nothing of PowerShell.
/// </summary>
public interface ITaskExecutor : IDisposable
{
    /// <summary>
    /// Runs one attempt. <paramref name="cancel"/> fires when the worker shuts down past its drain deadline. What the task
    /// writes to its streams goes to <paramref name="streams"/> as it is written (null: the worker keeps no stream logs).
    /// </summary>
    ExecutionOutcome Execute(TaskEnvelope task, int attempt, StreamLog? streams, CancellationToken cancel);
}

/// <summary>What one attempt produced.</summary>
public sealed class ExecutionOutcome
{
    public bool Succeeded { get; set; }
    /// <summary>The output objects as a JSON array.</summary>
    public string? OutputJson { get; set; }
    public List<string>? Warnings { get; set; }
    public List<string>? Information { get; set; }
    public List<string>? Errors { get; set; }
    /// <summary>Why the attempt failed; null when it succeeded.</summary>
    public TaskError? Error { get; set; }
    /// <summary>The attempt was stopped because the worker is shutting down: hand the task back.</summary>
    public bool Interrupted { get; set; }
    /// <summary>The executor could not stop the task and must not be used again.</summary>
    public bool ExecutorBroken { get; set; }
    /// <summary>The task ended, but left state behind that the executor cannot clear: the next task gets a new executor.</summary>
    public bool ReplaceExecutor { get; set; }
}

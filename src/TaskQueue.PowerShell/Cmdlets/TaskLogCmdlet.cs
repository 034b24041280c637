using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>What Get-TqTaskLog and Receive-TqTask share: reading a task's stream log once, or following it until the task ends.</summary>
public abstract class TaskLogCmdlet : TaskIdCmdlet
{
    /// <summary>How often a followed log is read again.</summary>
    private static readonly TimeSpan FollowEvery = TimeSpan.FromMilliseconds(250);

    private readonly CancellationTokenSource _stop = new();

    protected CancellationToken Stopping => _stop.Token;

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>
    /// Reads the log of task <paramref name="id"/>, handing each batch of entries to <paramref name="write"/>; with
    /// <paramref name="follow"/>, again and again until the task has ended (or the cmdlet is stopped). Returns the
    /// cursor, which holds the task's record once it has ended; null when there is no such task (an error was written).
    /// </summary>
    protected TaskLogCursor? ReadLog(string id, bool follow, Action<TaskLogCursor, IReadOnlyList<TaskStreamEntry>> write)
    {
        var cursor = new TaskLogCursor(Broker, Queue, id);
        while (true)
        {
            var entries = Run(_ => cursor.ReadAsync());
            if (cursor.State == TaskState.Unknown && cursor.Position == 0 && !follow)
            {
                WriteNotFound("TaskNotFound", $"Queue '{Queue}' has no task with id {id} (it never existed, or its record and log expired).", id);
                return null;
            }
            if (entries.Count > 0) write(cursor, entries);
            if (!follow || cursor.Ended) return cursor;
            if (cursor.State == TaskState.Unknown && cursor.Position == 0 && _unknownSince is null) _unknownSince = DateTime.UtcNow;
            // A task that does not exist is waited for a little (it may be on its way), not forever.
            if (_unknownSince is { } since && cursor.State == TaskState.Unknown && DateTime.UtcNow - since > TimeSpan.FromSeconds(10))
            {
                WriteNotFound("TaskNotFound", $"Queue '{Queue}' has no task with id {id} (it never existed, or its record and log expired).", id);
                return null;
            }
            if (cursor.State != TaskState.Unknown) _unknownSince = null;
            if (_stop.Token.WaitHandle.WaitOne(FollowEvery)) return cursor;
        }
    }

    private DateTime? _unknownSince;
}

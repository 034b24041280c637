using System;
using System.Collections.Generic;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>
/// What the task a slot runs writes to its streams (docs/PROTOCOL.md, "Stream logs"), kept in order and sent to the
/// task's log (<see cref="TaskLogs"/>) in small batches: by the worker's flusher every <see cref="FlushEvery"/> while
/// the task runs, and once when it ends. One per slot, reused from task to task.
/// </summary>
/// <remarks>
/// The hot path pays nothing in Redis: a task that writes nothing sends nothing, and neither does one that writes only
/// output and ends before the first flush, because its output is in its record (the log's readers take it from there).
/// A task writes at most <see cref="MaxEntries"/> entries and <see cref="MaxBytes"/> of text per attempt; what is
/// beyond is counted and dropped, and one Warning entry at the end says how much. Progress is coalesced: of the
/// updates of one activity written between two flushes only the last is sent, however fast a loop calls Write-Progress.
/// Entries are redacted as records are (<see cref="TaskEnvelope.RedactAssignedCredentials"/>).
/// </remarks>
public sealed class StreamLog
{
    public const int MaxEntries = 5000;
    public const int MaxBytes = 1 << 20;
    /// <summary>The longest message an entry keeps (longer ones are cut, ending in "...").</summary>
    public const int MaxMessageChars = 8 * 1024;
    /// <summary>How often a running task's new entries are sent: a few batches a second, whatever the task writes.</summary>
    public static readonly TimeSpan FlushEvery = TimeSpan.FromMilliseconds(250);

    private readonly object _gate = new();
    private readonly TaskLogs _logs;
    private readonly IClock _clock;
    private readonly BrokerOptions _retention;
    private readonly List<TaskStreamEntry?> _pending = new();
    // Activity id -> index in _pending of its unsent progress entry, superseded by the next update of that activity.
    private readonly Dictionary<int, int> _progressAt = new();
    private string _queue = "";
    private string _id = "";
    private int _attempt;
    private DateTimeOffset _began;
    private bool _active;
    private bool _sent;
    private bool _onlyOutput;
    private int _entries;
    private long _bytes;
    private int _dropped;
    private long _droppedBytes;

    internal StreamLog(TaskLogs logs, IClock clock, BrokerOptions retention)
    {
        _logs = logs;
        _clock = clock;
        _retention = retention;
    }

    /// <summary>The longer of the two retentions: a log written while its task runs lasts at least as long as either record.</summary>
    private TimeSpan RunningRetention => _retention.FailureRetention > _retention.SuccessRetention ? _retention.FailureRetention : _retention.SuccessRetention;

    /// <summary>A task of a queue or shard (as stored) starts its attempt on this slot.</summary>
    internal void Begin(string storedQueue, string id, int attempt)
    {
        lock (_gate)
        {
            _queue = storedQueue;
            _id = id;
            _attempt = attempt;
            _began = _clock.UtcNow;
            _sent = false;
            _onlyOutput = true;
            _entries = 0;
            _bytes = 0;
            _dropped = 0;
            _droppedBytes = 0;
            _pending.Clear();
            _progressAt.Clear();
            _active = true;
        }
    }

    /// <summary>The attempt ended: what is left is sent (unless it is output only and nothing was sent), and the log set to expire with the record.</summary>
    internal void End(bool succeeded)
    {
        lock (_gate)
        {
            if (!_active) return;
            _active = false;
            if (_dropped > 0)
            {
                _pending.Add(Entry(TaskStreamEntry.Warning,
                    $"TaskQueue dropped {_dropped} entr{(_dropped == 1 ? "y" : "ies")} ({_droppedBytes} bytes) that this attempt wrote past its log's bound ({MaxEntries} entries, {MaxBytes / 1024} KiB of text); its record still holds its output."));
                _onlyOutput = false;
            }
            var ttl = succeeded ? _retention.SuccessRetention : _retention.FailureRetention;
            if (_sent || !_onlyOutput) Send(ttl);
            _pending.Clear();
            _progressAt.Clear();
        }
    }

    /// <summary>Called by the worker's flusher: sends what the running task wrote since the last batch, once it has run <see cref="FlushEvery"/>.</summary>
    internal void FlushIfDue()
    {
        lock (_gate)
        {
            if (!_active || _pending.Count == 0 || _clock.UtcNow - _began < FlushEvery) return;
            Send(RunningRetention);
        }
    }

    private void Send(TimeSpan ttl)
    {
        var batch = new List<string>(_pending.Count);
        foreach (var entry in _pending)
            if (entry is not null) batch.Add(TqJson.Serialize(entry));
        _pending.Clear();
        _progressAt.Clear();
        // Under the lock: batches leave in the order they were taken.
        try { _logs.Append(_queue, _id, batch, ttl); }
        catch (Exception) { /* a log is never worth failing a task for; the multiplexer reports Redis trouble elsewhere */ }
        _sent = true;
    }

    /// <summary>The task wrote a message (or an output object's string form) to <paramref name="stream"/>.</summary>
    public void Write(string stream, string? message)
    {
        if (!_active) return;
        lock (_gate)
        {
            if (!_active) return;
            Add(Entry(stream, message ?? ""));
        }
    }

    /// <summary>The task wrote with Write-Host: an Information entry marked as the host's.</summary>
    public void WriteHost(string? message)
    {
        if (!_active) return;
        lock (_gate)
        {
            if (!_active) return;
            var entry = Entry(TaskStreamEntry.Information, message ?? "");
            entry.Host = true;
            Add(entry);
        }
    }

    /// <summary>The task wrote a progress record; an unsent update of the same activity is replaced by it.</summary>
    public void WriteProgress(int activityId, string? activity, string? status, int percentComplete, bool completed)
    {
        if (!_active) return;
        lock (_gate)
        {
            if (!_active) return;
            var entry = Entry(TaskStreamEntry.Progress, string.IsNullOrEmpty(status) ? activity ?? "" : $"{activity}: {status}");
            entry.Activity = Clip(activity ?? "");
            entry.Status = Clip(status ?? "");
            entry.PercentComplete = percentComplete;
            entry.ActivityId = activityId;
            if (completed) entry.Completed = true;
            if (_progressAt.TryGetValue(activityId, out var earlier) && _pending[earlier] is { } superseded)
            {
                _pending[earlier] = null;
                _entries--;
                _bytes -= System.Text.Encoding.UTF8.GetByteCount(superseded.Message);
            }
            if (Add(entry)) _progressAt[activityId] = _pending.Count - 1;
        }
    }

    private bool Add(TaskStreamEntry entry)
    {
        var length = System.Text.Encoding.UTF8.GetByteCount(entry.Message);
        if (_entries >= MaxEntries || _bytes + length > MaxBytes)
        {
            _dropped++;
            _droppedBytes += length;
            return false;
        }
        _entries++;
        _bytes += length;
        if (!string.Equals(entry.Stream, TaskStreamEntry.Output, StringComparison.Ordinal)) _onlyOutput = false;
        _pending.Add(entry);
        return true;
    }

    private TaskStreamEntry Entry(string stream, string message) => new()
    {
        TimeMs = _clock.UtcNow.ToUnixMs(),
        Attempt = _attempt,
        Stream = stream,
        Message = Clip(message),
    };

    private static string Clip(string text)
    {
        text = TaskEnvelope.RedactAssignedCredentials(text);
        return text.Length <= MaxMessageChars ? text : text.Substring(0, MaxMessageChars - 3) + "...";
    }
}

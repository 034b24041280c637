using System;
using System.Collections.Generic;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Worker;

/// <summary>How the executor turns an output object into the text of its log entry.</summary>
public interface IOutputText
{
    /// <summary>The object's string form, as the task's own session would write it; called on the task's thread.</summary>
    string Text(object item);
    /// <summary>The object's string form where taking it is safe on any thread (a string, a number); else null.</summary>
    string? TextOnAnyThread(object item);
    /// <summary>Whether <see cref="TextOnAnyThread"/> gives the object's text (a type check: nothing is formatted).</summary>
    bool HasTextOnAnyThread(object item);
}

/// <summary>
/// What the task a slot runs writes to its streams (docs/PROTOCOL.md, "Stream logs"), kept in order and sent to the
/// task's log (<see cref="TaskLogs"/>) in small batches: by the worker's flusher every <see cref="FlushEvery"/> while
/// the task runs, and once when it ends. One per slot, reused from task to task.
/// </summary>
/// <remarks>
/// The hot path pays nothing in Redis: a task that writes nothing sends nothing, and neither does one that writes only
/// output and ends before the first batch, because its output is in its record (the log's readers take it from there).
/// Such a task does not even pay for its output's text when it is a string or a number: those are kept as they are, at
/// the tail of what is unsent, and their text is taken only when it is going to be sent (another stream is written,
/// the task runs past the first batch, or it ends with something sent). Any other object's text is taken at once, on
/// the task's thread (it may run the object's own script), so the flusher can always send what came before. A task writes at most <see cref="MaxEntries"/> entries and
/// <see cref="MaxBytes"/> of text per attempt; what is beyond is counted and dropped, and one Warning entry at the end
/// says how much. Progress is coalesced: of the updates of one activity written between two batches only the last is
/// sent, however fast a loop calls Write-Progress. Entries are redacted as records are
/// (<see cref="TaskEnvelope.RedactAssignedCredentials"/>).
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
    // Output objects written after the last entry of _pending, their text not taken yet: (time written, object).
    private readonly List<(long TimeMs, object Item)> _outputs = new();
    // Activity id -> index in _pending of its unsent progress entry, superseded by the next update of that activity.
    private readonly Dictionary<int, int> _progressAt = new();
    private IOutputText? _text;
    private string _queue = "";
    private string _id = "";
    private int _attempt;
    private DateTimeOffset _began;
    private bool _active;
    private bool _sent;
    private bool _onlyOutput;
    // The task has run past its first batch: output text is taken as it is written.
    private volatile bool _live;
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

    /// <summary>How output objects become text; set by the executor.</summary>
    public IOutputText? OutputText
    {
        get => _text;
        set => _text = value;
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
            _live = false;
            _onlyOutput = true;
            _entries = 0;
            _bytes = 0;
            _dropped = 0;
            _droppedBytes = 0;
            _pending.Clear();
            _outputs.Clear();
            if (_progressAt.Count > 0) _progressAt.Clear();
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
            if (_sent || !_onlyOutput)
            {
                TakeOutputText(anyThread: false);
                if (_dropped > 0)
                    _pending.Add(Entry(TaskStreamEntry.Warning,
                        $"TaskQueue dropped {_dropped} entr{(_dropped == 1 ? "y" : "ies")} ({_droppedBytes} bytes) that this attempt wrote past its log's bound ({MaxEntries} entries, {MaxBytes / 1024} KiB of text); its record still holds its output."));
                Send(succeeded ? _retention.SuccessRetention : _retention.FailureRetention);
            }
            _pending.Clear();
            _outputs.Clear();
            if (_progressAt.Count > 0) _progressAt.Clear();
        }
    }

    /// <summary>
    /// Called by the worker's flusher: once the running task has run <see cref="FlushEvery"/>, sends what it wrote since
    /// the last batch, up to an output object whose text only the task's thread may take (that thread takes it next).
    /// </summary>
    internal void FlushIfDue()
    {
        lock (_gate)
        {
            if (!_active || (_pending.Count == 0 && _outputs.Count == 0) || _clock.UtcNow - _began < FlushEvery) return;
            _live = true;
            TakeOutputText(anyThread: true);
            if (_pending.Count > 0) Send(RunningRetention);
        }
    }

    private void Send(TimeSpan ttl)
    {
        var batch = new List<string>(_pending.Count);
        foreach (var entry in _pending)
            if (entry is not null) batch.Add(TqJson.Serialize(entry));
        _pending.Clear();
        if (_progressAt.Count > 0) _progressAt.Clear();
        // Under the lock: batches leave in the order they were taken.
        try { _logs.Append(_queue, _id, batch, ttl); }
        catch (Exception) { /* a log is never worth failing a task for; the multiplexer reports Redis trouble elsewhere */ }
        _sent = true;
    }

    /// <summary>
    /// Turns the output objects not yet written as entries into entries, in order. On the task's thread, all of them;
    /// on another (the flusher), those whose text is safe to take there, up to the first that is not.
    /// </summary>
    private void TakeOutputText(bool anyThread)
    {
        var taken = 0;
        foreach (var (timeMs, item) in _outputs)
        {
            string? text;
            try { text = anyThread ? _text?.TextOnAnyThread(item) : _text?.Text(item) ?? item.ToString(); }
            catch (Exception ex) { text = $"({item.GetType().FullName}: its text could not be taken: {ex.Message})"; }
            if (text is null) break;
            var entry = Entry(TaskStreamEntry.Output, text);
            entry.TimeMs = timeMs;
            Add(entry);
            taken++;
        }
        if (taken == _outputs.Count) _outputs.Clear();
        else _outputs.RemoveRange(0, taken);
    }

    /// <summary>The task wrote an output object (its text is taken when it is going to be sent).</summary>
    public void WriteOutput(object? item)
    {
        if (!_active || item is null) return;
        lock (_gate)
        {
            if (!_active) return;
            _outputs.Add((_clock.UtcNow.ToUnixMs(), item));
            // An object whose text only this thread may take has it taken now, so that the flusher never waits for
            // the task's next write to send it; a string's or a number's waits until it is going to be sent.
            if (_live || _text is null || !_text.HasTextOnAnyThread(item)) TakeOutputText(anyThread: false);
        }
    }

    /// <summary>The task wrote a message to <paramref name="stream"/> (not Output: <see cref="WriteOutput"/>).</summary>
    public void Write(string stream, string? message)
    {
        if (!_active) return;
        lock (_gate)
        {
            if (!_active) return;
            TakeOutputText(anyThread: false);
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
            TakeOutputText(anyThread: false);
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
            TakeOutputText(anyThread: false);
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

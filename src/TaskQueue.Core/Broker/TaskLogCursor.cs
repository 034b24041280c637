using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Reads a task's stream log from where it left off: what Get-TqTaskLog -Follow, Receive-TqTask -Wait and the
/// dashboard's task page read again and again until the task has ended. Each read looks at the task's state first and
/// at its log second; a worker writes a task's last entries before its record, so a read that finds the task ended
/// has all of its log. Once the task has ended, the read also gives its record, and what the log does not hold of
/// the last attempt (a task that wrote only output and ended before a batch was sent keeps it in its record alone;
/// a task that failed before it ran has no log) comes from the record: see <see cref="FromRecord"/>.
/// </summary>
public sealed class TaskLogCursor
{
    private readonly RedisBroker _broker;
    private string? _shard;
    private long _next;
    private int _lastAttempt;
    private bool _lastAttemptHasError;

    /// <param name="from">The index of the first entry to read (what an earlier reader read up to: its <see cref="Position"/>).</param>
    public TaskLogCursor(RedisBroker broker, string queue, string id, long from = 0)
    {
        _broker = broker;
        Queue = queue;
        Id = id;
        _start = _next = Math.Max(0, from);
    }

    private readonly long _start;

    public string Queue { get; }
    public string Id { get; }
    /// <summary>The task's state at the last read.</summary>
    public TaskState State { get; private set; }
    /// <summary>The task has ended (succeeded, or failed for good or was canceled); its record is in <see cref="Result"/> or <see cref="Error"/>.</summary>
    public bool Ended => State is TaskState.Succeeded or TaskState.Failed;
    public TaskResult? Result { get; private set; }
    public TaskError? Error { get; private set; }
    /// <summary>The entries read so far (the log's length at the last read).</summary>
    public long Position => _next;

    /// <summary>The entries written since the last read, in order; once the task ended, followed by those its record adds.</summary>
    public async Task<IReadOnlyList<TaskStreamEntry>> ReadAsync()
    {
        if (Ended) return Array.Empty<TaskStreamEntry>();
        State = (await _broker.Reads.GetOutcomesAsync(Queue, new[] { Id }).ConfigureAwait(false))[0];
        // Located again until the task is found (a task not sent yet, or placed by a unique key).
        if (_shard is null || State == TaskState.Unknown)
        {
            _shard = await _broker.Logs.LocateAsync(Queue, Id).ConfigureAwait(false);
            if (State == TaskState.Unknown) _next = 0;
        }
        var entries = new List<TaskStreamEntry>();
        while (true)
        {
            var (page, next) = await _broker.Logs.ReadAsync(_shard, Id, _next).ConfigureAwait(false);
            var more = next - _next >= 1000;
            _next = next;
            foreach (var entry in page) Note(entry);
            entries.AddRange(page);
            if (!more) break;
        }
        if (!Ended) return entries;
        if (_start > 0)
        {
            // What the record adds depends on the last attempt's entries, some of which came before this reader's start.
            _lastAttempt = 0;
            foreach (var entry in (await _broker.Logs.ReadAsync(_shard, Id, 0, _next).ConfigureAwait(false)).Entries) Note(entry);
        }
        var (result, error) = await _broker.Reads.GetStoredOutcomeAsync(Queue, Id).ConfigureAwait(false);
        try
        {
            Result = State == TaskState.Succeeded ? TqJson.ReadResult(result) : null;
            Error = State == TaskState.Failed ? TqJson.ReadError(error) : null;
        }
        catch (JsonException) { }
        entries.AddRange(FromRecord());
        return entries;
    }

    private void Note(TaskStreamEntry entry)
    {
        if (entry.Attempt != _lastAttempt)
        {
            _lastAttempt = entry.Attempt;
            _lastAttemptHasError = false;
        }
        if (entry.Stream == TaskStreamEntry.Error) _lastAttemptHasError = true;
    }

    /// <summary>
    /// What the record of the ended task says that its log does not: when the log holds nothing of its last attempt,
    /// its output (one Output entry per object: its JSON text, a string as itself), warnings and information (as older
    /// workers kept them) at the time it ended; and for a failure whose last attempt logged no error, its message.
    /// </summary>
    private IEnumerable<TaskStreamEntry> FromRecord()
    {
        var attempts = Result?.Attempts ?? Error?.Attempts ?? 0;
        var at = (Result?.CompletedAt ?? Error?.FailedAt ?? DateTimeOffset.UtcNow).ToUnixMs();
        var logged = attempts > 0 && _lastAttempt >= attempts;
        TaskStreamEntry Made(string stream, string message) => new() { TimeMs = at, Attempt = Math.Max(attempts, 1), Stream = stream, Message = message, FromRecord = true };
        if (!logged)
        {
            foreach (var text in OutputTexts(Result?.Output ?? Error?.Output)) yield return Made(TaskStreamEntry.Output, text);
            foreach (var warning in (Result?.Warnings ?? Error?.Warnings) ?? Enumerable.Empty<string>()) yield return Made(TaskStreamEntry.Warning, warning);
            foreach (var information in (Result?.Information ?? Error?.Information) ?? Enumerable.Empty<string>()) yield return Made(TaskStreamEntry.Information, information);
        }
        if (Error is { } failure && !(logged && _lastAttemptHasError)) yield return Made(TaskStreamEntry.Error, failure.Message);
    }

    /// <summary>Each output object's text: a string as itself, anything else as its JSON.</summary>
    public static IEnumerable<string> OutputTexts(string? outputJson)
    {
        if (string.IsNullOrEmpty(outputJson)) yield break;
        JsonDocument document;
        try { document = JsonDocument.Parse(outputJson!); }
        catch (JsonException) { yield break; }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array) yield break;
            foreach (var item in document.RootElement.EnumerateArray())
                yield return item.ValueKind == JsonValueKind.String ? item.GetString() ?? "" : item.GetRawText();
        }
    }
}

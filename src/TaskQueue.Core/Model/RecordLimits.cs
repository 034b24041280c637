using System;
using System.Collections.Generic;
using System.Text.Json;

namespace TaskQueue.Core.Model;

/// <summary>
/// The most a success or failure record holds (docs/PROTOCOL.md, "Records"): a task that outputs 30 MB, throws
/// megabyte messages or writes a million warnings must not fill Redis or the dashboard. Beyond the limits the record
/// keeps a note of what was there and says so (Truncated); Get-TqResult and the dashboard show the note.
/// </summary>
public static class RecordLimits
{
    /// <summary>The largest output a record keeps, as JSON text (4 MiB: a large listing is kept whole, 30 MB is not).</summary>
    public const int MaxOutputChars = 4 * 1024 * 1024;
    /// <summary>The longest message, stack trace or stream entry a record keeps.</summary>
    public const int MaxTextChars = 16 * 1024;
    /// <summary>The most warnings, information or error entries a record keeps.</summary>
    public const int MaxEntries = 1000;

    /// <summary>Cuts a success record to the limits; true when something was cut (the record then says Truncated).</summary>
    public static bool Apply(TaskResult result)
    {
        var cut = Output(result.Output, out var output);
        result.Output = output;
        cut |= Entries(result.Warnings) | Entries(result.Information) | Entries(result.Errors);
        if (cut) result.Truncated = true;
        return cut;
    }

    /// <summary>Cuts a failure record to the limits; true when something was cut (the record then says Truncated).</summary>
    public static bool Apply(TaskError error)
    {
        var cut = Output(error.Output, out var output);
        error.Output = output;
        cut |= Text(error.Message, out var message) | Text(error.ScriptStackTrace, out var trace) | Text(error.Position, out var position)
            | Text(error.ErrorId, out var errorId);
        error.Message = message ?? "";
        error.ErrorId = errorId;
        error.ScriptStackTrace = trace;
        error.Position = position;
        cut |= Entries(error.Warnings) | Entries(error.Information) | Entries(error.Errors);
        if (cut) error.Truncated = true;
        return cut;
    }

    private static bool Output(string? json, out string? kept)
    {
        kept = json;
        if (json is null || json.Length <= MaxOutputChars) return false;
        var note = $"(The output was {json.Length:N0} characters as JSON, over the {MaxOutputChars:N0} a record keeps; it was not stored. Write large results to a file or a share and output its path.)";
        kept = "[" + JsonSerializer.Serialize(note) + "]";
        return true;
    }

    private static bool Text(string? text, out string? kept)
    {
        kept = text;
        if (text is null || text.Length <= MaxTextChars) return false;
        kept = text.Substring(0, MaxTextChars) + $" ... ({text.Length - MaxTextChars:N0} more characters not kept)";
        return true;
    }

    private static bool Entries(List<string>? entries)
    {
        if (entries is null) return false;
        var cut = false;
        if (entries.Count > MaxEntries)
        {
            var dropped = entries.Count - MaxEntries;
            entries.RemoveRange(MaxEntries, dropped);
            entries.Add($"... ({dropped:N0} more entries not kept)");
            cut = true;
        }
        for (var i = 0; i < entries.Count; i++)
        {
            if (!Text(entries[i], out var kept)) continue;
            entries[i] = kept!;
            cut = true;
        }
        return cut;
    }
}

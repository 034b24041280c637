using System;
using System.Text.Json.Serialization;

namespace TaskQueue.Core.Model;

/// <summary>
/// One entry of a task's stream log: something the task wrote to one of its PowerShell streams, when (the worker's
/// clock, UTC) and in which attempt. Stored as one compact JSON document per list element (docs/PROTOCOL.md, "Stream
/// logs"), in the order the task wrote them.
/// </summary>
public sealed class TaskStreamEntry
{
    /// <summary>The stream names, as entries store them and Get-TqTaskLog -Stream takes them.</summary>
    public static readonly string[] Streams = { Output, Error, Warning, Verbose, Debug, Information, Progress };
    public const string Output = "Output";
    public const string Error = "Error";
    public const string Warning = "Warning";
    public const string Verbose = "Verbose";
    public const string Debug = "Debug";
    public const string Information = "Information";
    public const string Progress = "Progress";

    /// <summary>When it was written: unix milliseconds of the worker's clock.</summary>
    [JsonPropertyName("t")] public long TimeMs { get; set; }
    /// <summary>The attempt that wrote it (1 for the first).</summary>
    [JsonPropertyName("a")] public int Attempt { get; set; }
    /// <summary>The stream: one of <see cref="Streams"/>.</summary>
    [JsonPropertyName("s")] public string Stream { get; set; } = "";
    /// <summary>The text: an output object's string form, a message, or for Progress "activity: status".</summary>
    [JsonPropertyName("m")] public string Message { get; set; } = "";
    /// <summary>Progress only: the activity, its status, percent complete (-1: unknown), the activity id, and whether it completed.</summary>
    [JsonPropertyName("act")] public string? Activity { get; set; }
    [JsonPropertyName("st")] public string? Status { get; set; }
    [JsonPropertyName("pc")] public int? PercentComplete { get; set; }
    [JsonPropertyName("pid")] public int? ActivityId { get; set; }
    [JsonPropertyName("done")] public bool? Completed { get; set; }
    /// <summary>Information only: written by Write-Host (the PSHOST tag), which a console shows whatever the preference.</summary>
    [JsonPropertyName("host")] public bool? Host { get; set; }

    /// <summary>Not stored: the entry was made from the task's record by its reader (TaskLogCursor), not written by the worker.</summary>
    [JsonIgnore] public bool FromRecord { get; set; }

    [JsonIgnore]
    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeMilliseconds(TimeMs);

    /// <summary>The stream name as stored, for a name in any case; null when it is none of them.</summary>
    public static string? StreamName(string name)
    {
        foreach (var stream in Streams)
            if (string.Equals(stream, name, StringComparison.OrdinalIgnoreCase)) return stream;
        return null;
    }
}

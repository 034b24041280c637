using System;
using System.Collections.Generic;
using System.Text.Json;

namespace TaskQueue.Core.Model;

/// <summary>The success record of a task. Stored as JSON in the queue's results hash.</summary>
public sealed class TaskResult
{
    public int V { get; set; } = 1;
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    public string Label { get; set; } = "";
    public string Worker { get; set; } = "";
    /// <summary>The name of the worker that ran it (Start-TqWorker -WorkerName; its host by default); null from workers before 0.3.0.</summary>
    public string? WorkerName { get; set; }
    public int Attempts { get; set; }
    public DateTimeOffset EnqueuedAt { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset CompletedAt { get; set; }
    /// <summary>The output objects as a JSON array (raw JSON text).</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(RawJsonConverter))]
    public string? Output { get; set; }
    /// <summary>The task's positional arguments as sent (a JSON array, redacted: <see cref="RecordArguments"/>); null when it had none.</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(RawJsonConverter))]
    public string? Args { get; set; }
    /// <summary>The task's named parameters as sent (a JSON object, redacted as <see cref="Args"/>); null when it had none.</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(RawJsonConverter))]
    public string? Params { get; set; }
    public List<string>? Warnings { get; set; }
    public List<string>? Information { get; set; }
    /// <summary>Non-terminating errors of a task sent with ContinueOnError.</summary>
    public List<string>? Errors { get; set; }
    /// <summary>True when the record was cut to RecordLimits (a note says what was not kept).</summary>
    public bool? Truncated { get; set; }
    /// <summary>The writing worker's proof (Security.RecordProof): key id and HMAC; always the last member.</summary>
    public string? Proof { get; set; }
}

using System;
using System.Collections.Generic;
using System.Text.Json;

namespace TaskQueue.Core.Model;

/// <summary>Why an attempt failed. Stored as JSON in the queue's errors hash.</summary>
public sealed class TaskError
{
    public int V { get; set; } = 1;
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    /// <summary>One of <see cref="FailureReasons"/>.</summary>
    public string Reason { get; set; } = FailureReasons.Exception;
    /// <summary>True when another attempt cannot succeed (the script does not parse, the command does not exist).</summary>
    public bool Permanent { get; set; }
    public string Message { get; set; } = "";
    public string? ErrorId { get; set; }
    public string? Category { get; set; }
    public string? ExceptionType { get; set; }
    public string? ScriptStackTrace { get; set; }
    public string? Position { get; set; }
    public string? Worker { get; set; }
    /// <summary>The name of the worker that ran the attempt (Start-TqWorker -WorkerName); null when no worker ran it, or before 0.3.0.</summary>
    public string? WorkerName { get; set; }
    public int Attempts { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset FailedAt { get; set; }
    /// <summary>When the next attempt is due; null once the task failed for good.</summary>
    public DateTimeOffset? RetryAt { get; set; }
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
    /// <summary>Non-terminating errors written before the failure.</summary>
    public List<string>? Errors { get; set; }
    /// <summary>True when the record was cut to RecordLimits (a note says what was not kept).</summary>
    public bool? Truncated { get; set; }
    /// <summary>The writing worker's proof (Security.RecordProof): key id and HMAC; always the last member.</summary>
    public string? Proof { get; set; }
}

public static class FailureReasons
{
    public const string Exception = "Exception";
    public const string NonTerminatingError = "NonTerminatingError";
    public const string ParseError = "ParseError";
    public const string CommandNotFound = "CommandNotFound";
    public const string Timeout = "Timeout";
    public const string MalformedTask = "MalformedTask";
    public const string WorkerLost = "WorkerLost";
    public const string Canceled = "Canceled";
    /// <summary>The worker requires signed tasks and this one is unsigned, altered, moved or signed with an unknown key.</summary>
    public const string BadSignature = "BadSignature";
    /// <summary>A command task names an alias, a native program, a script or a command the worker does not allow.</summary>
    public const string CommandNotAllowed = "CommandNotAllowed";
    /// <summary>Not written by a worker: what a failure record that is not valid JSON reads as.</summary>
    public const string UnreadableRecord = "UnreadableRecord";
    /// <summary>A task it depends on (Send-TqTask -DependsOn) failed for good, and its policy was Cancel.</summary>
    public const string DependencyFailed = "DependencyFailed";
    /// <summary>The task became due longer ago than the worker's MaxTaskAge (held up, or replayed): it did not run.</summary>
    public const string Expired = "Expired";
    /// <summary>A worker with a keyring found no verified record showing the task's dependencies settled as its policy needs.</summary>
    public const string DependencyNotMet = "DependencyNotMet";
}

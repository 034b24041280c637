using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TaskQueue.Core.Model;

/// <summary>
/// The wire format of a task (docs/PROTOCOL.md): immutable once enqueued, version <see cref="CurrentVersion"/>.
/// </summary>
public sealed class TaskEnvelope
{
    public const int CurrentVersion = 1;
    public const int DefaultMaxAttempts = 10;

    [JsonPropertyName("v")] public int Version { get; set; } = CurrentVersion;
    public string Id { get; set; } = "";
    public string Queue { get; set; } = "";
    /// <summary>"script" or "command".</summary>
    public string Kind { get; set; } = "";
    public string? Script { get; set; }
    public string? Command { get; set; }
    /// <summary>JSON array of positional arguments.</summary>
    public JsonElement? Args { get; set; }
    /// <summary>JSON object of named parameters (command tasks).</summary>
    public JsonElement? Params { get; set; }
    /// <summary>
    /// The values of the script's <c>$using:</c> expressions, taken when it was sent: a JSON object whose names are the
    /// expressions as written (<c>$using:path</c>, lower case for a plain variable; <c>$using:h.Name</c> as written).
    /// </summary>
    public JsonElement? Using { get; set; }
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;
    /// <summary>Milliseconds an attempt may run; 0 means no limit.</summary>
    public long TimeoutMs { get; set; }
    /// <summary>When true, non-terminating errors are kept on the record but do not fail the task.</summary>
    public bool ContinueOnError { get; set; }
    /// <summary>True: the task runs with $VerbosePreference = 'Continue' (Send-TqTask -TaskVerbose), so its Write-Verbose lines reach its stream log.</summary>
    public bool? Verbose { get; set; }
    /// <summary>True: the task runs with $DebugPreference = 'Continue' (Send-TqTask -TaskDebug).</summary>
    public bool? Debug { get; set; }
    public DateTimeOffset EnqueuedAt { get; set; }
    /// <summary>When the task becomes pending; null or past means at once. Kept in the schedule until then.</summary>
    public DateTimeOffset? NotBefore { get; set; }
    /// <summary>While a task with this key is pending, scheduled, active or retrying, another one with it is not stored.</summary>
    public string? UniqueKey { get; set; }
    /// <summary>A name for people (Send-TqTask -Name): shown in records, lists and the dashboard instead of the script's first line.</summary>
    public string? Name { get; set; }
    /// <summary>The id of the key that signed the task (docs/PROTOCOL.md, "Signed tasks"); inside the signed bytes.</summary>
    public string? Kid { get; set; }
    /// <summary>The tasks this one waits for (Send-TqTask -DependsOn): it runs once they all succeeded (docs/WORKFLOWS.md).</summary>
    public List<TaskRef>? DependsOn { get; set; }
    /// <summary>What happens when a dependency fails for good: Cancel (the default: a DependencyFailed failure) or Run.</summary>
    public string? OnDependencyFailure { get; set; }
    /// <summary>"High" or "Low" (Send-TqTask -Priority); null for Normal, which most tasks are.</summary>
    public string? Priority { get; set; }
    /// <summary>The level the scripts file the task under: "high", "low", or "" for Normal.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Level => TaskPriorities.Level(TaskPriorities.Parse(Priority));
    /// <summary>The outcomes of <see cref="DependsOn"/>, read by the worker as the task starts (not stored).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<DependencyOutcome>? Dependencies { get; set; }

    public static class DependencyPolicies
    {
        public const string Cancel = "Cancel";
        public const string Run = "Run";
    }

    public static class Kinds
    {
        public const string Script = "script";
        public const string Command = "command";
    }

    /// <summary>Makes this a script task running <paramref name="script"/> (Send-TqTask -ScriptBlock, and schedules).</summary>
    public void SetScript(string script)
    {
        Kind = Kinds.Script;
        Script = script;
        Command = null;
    }

    /// <summary>Makes this a command task running <paramref name="command"/> (Send-TqTask -Command, and schedules).</summary>
    public void SetCommand(string command)
    {
        Kind = Kinds.Command;
        Command = command;
        Script = null;
    }

    /// <summary>A short human label: the -Name given, else the command name or the script's first line (credentials in it redacted).</summary>
    [JsonIgnore]
    public string Label => !string.IsNullOrEmpty(Name) ? Name! : Kind == Kinds.Command ? Command ?? "" : FirstLine(Script);

    // A literal credential on a script's first line ("-Password 'x'", "token=...", "ConvertTo-SecureString 'x'") is not shown.
    private static readonly System.Text.RegularExpressions.Regex Credential = new(
        @"(?i)(\b\w*(?:password|passwd|pwd|secret|token|apikey|api_key|privatekey)\b\s*[=:]?\s*|ConvertTo-SecureString\s+(?:-String\s+)?)('[^']*'|""[^""]*""|[^\s;)|]+)",
        System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    // A worker labels every success record, and most tasks of a queue carry the same script: keep the last label.
    /// <summary>Text with literal credentials (password=..., -Token '...', ConvertTo-SecureString '...') shown as ***.</summary>
    public static string RedactCredentials(string text) => Credential.Replace(text, "$1***");

    // In free text (output strings, warnings, information) only an assignment counts: "Password=x;" in a connection
    // string, "token: abc"; "the password expires" stays as written.
    private static readonly System.Text.RegularExpressions.Regex Assigned = new(
        @"(?i)(\b\w*(?:password|passwd|pwd|secret|token|apikey|api_key|privatekey)\s*[=:]\s*)('[^']*'|""[^""]*""|[^\s;,)|]+)",
        System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>Free text with assigned credentials (Password=..., token: ...) shown as ***; cheap when none is there.</summary>
    public static string RedactAssignedCredentials(string text) =>
        text.IndexOf('=') < 0 && text.IndexOf(':') < 0 ? text : Assigned.Replace(text, "$1***");

    [ThreadStatic] private static string? _lastScript;
    [ThreadStatic] private static string? _lastLabel;

    private static string FirstLine(string? script)
    {
        if (string.IsNullOrWhiteSpace(script)) return "";
        if (_lastLabel is not null && string.Equals(script, _lastScript, StringComparison.Ordinal)) return _lastLabel;
        var label = ComputeFirstLine(script!);
        _lastScript = script;
        _lastLabel = label;
        return label;
    }

    private static string ComputeFirstLine(string script)
    {
        var lines = script!.Split(new[] { '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith("#", StringComparison.Ordinal))
            .ToList();
        if (lines.Count == 0) return "";
        // "param($h) Test-Connection $h" reads better as "Test-Connection $h"; a param line alone is skipped.
        var index = 0;
        var text = lines[0];
        var param = System.Text.RegularExpressions.Regex.Match(text, @"^(\[CmdletBinding\(\)\]\s*)?param\s*\([^)]*\)\s*;?\s*", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        if (param.Success)
        {
            text = text.Substring(param.Length);
            if (text.Length == 0 && lines.Count > 1) text = lines[++index];
        }
        if (text.Length == 0) text = lines[0];
        text = RedactCredentials(text);
        if (index < lines.Count - 1) text += " ...";
        return text.Length > 60 ? text.Substring(0, 57) + "..." : text;
    }
}

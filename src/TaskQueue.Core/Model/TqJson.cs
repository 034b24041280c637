using System;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TaskQueue.Core.Model;

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TaskEnvelope))]
[JsonSerializable(typeof(TaskResult))]
[JsonSerializable(typeof(TaskError))]
[JsonSerializable(typeof(ScheduleDefinition))]
[JsonSerializable(typeof(ScheduleRun))]
[JsonSerializable(typeof(TaskStreamEntry))]
internal partial class TqJsonContext : JsonSerializerContext
{
}

/// <summary>Reads and writes the JSON documents stored in Redis.</summary>
public static class TqJson
{
    // Documents are stored, not embedded in HTML: escape only what JSON requires, so scripts stay readable in Redis.
    private static readonly TqJsonContext Context = new(new JsonSerializerOptions(TqJsonContext.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    public static string Serialize(TaskEnvelope envelope) => JsonSerializer.Serialize(envelope, Context.TaskEnvelope);
    /// <summary>The envelope as UTF-8 JSON, ready for the wire without another encoding pass.</summary>
    public static byte[] SerializeToUtf8(TaskEnvelope envelope) => JsonSerializer.SerializeToUtf8Bytes(envelope, Context.TaskEnvelope);
    public static string Serialize(TaskResult result) => JsonSerializer.Serialize(result, Context.TaskResult);
    public static string Serialize(TaskError error) => JsonSerializer.Serialize(error, Context.TaskError);
    public static string Serialize(ScheduleDefinition schedule) => JsonSerializer.Serialize(schedule, Context.ScheduleDefinition);
    public static string Serialize(ScheduleRun run) => JsonSerializer.Serialize(run, Context.ScheduleRun);
    public static byte[] SerializeToUtf8(ScheduleDefinition schedule) => JsonSerializer.SerializeToUtf8Bytes(schedule, Context.ScheduleDefinition);
    public static ScheduleDefinition? ReadSchedule(string? json) =>
        string.IsNullOrEmpty(json) ? null : ReadScheduleUtf8(System.Text.Encoding.UTF8.GetBytes(json));
    /// <summary>A stored schedule; a signature line in front of it is skipped, not checked.</summary>
    public static ScheduleDefinition? ReadScheduleUtf8(ReadOnlySpan<byte> utf8)
    {
        utf8 = utf8.Slice(Security.EnvelopeSignature.BodyOffset(utf8));
        return utf8.IsEmpty ? null : JsonSerializer.Deserialize(utf8, Context.ScheduleDefinition);
    }
    /// <summary>A schedule's last run; a signature line in front of it is skipped, not checked.</summary>
    public static ScheduleRun? ReadScheduleRun(string? json) =>
        string.IsNullOrEmpty(json) ? null : ReadScheduleRunUtf8(System.Text.Encoding.UTF8.GetBytes(json));
    public static ScheduleRun? ReadScheduleRunUtf8(ReadOnlySpan<byte> utf8)
    {
        utf8 = utf8.Slice(Security.EnvelopeSignature.BodyOffset(utf8));
        return utf8.IsEmpty ? null : JsonSerializer.Deserialize(utf8, Context.ScheduleRun);
    }
    public static byte[] SerializeToUtf8(ScheduleRun run) => JsonSerializer.SerializeToUtf8Bytes(run, Context.ScheduleRun);

    public static string Serialize(TaskStreamEntry entry) => JsonSerializer.Serialize(entry, Context.TaskStreamEntry);
    /// <summary>A stream log entry; null when the text is not one (an entry a newer writer shaped differently is skipped, not fatal).</summary>
    public static TaskStreamEntry? ReadStreamEntry(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        try { return JsonSerializer.Deserialize(json!, Context.TaskStreamEntry); }
        catch (JsonException) { return null; }
    }

    public static TaskResult? ReadResult(string? json) =>
        string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize(json!, Context.TaskResult);

    public static TaskError? ReadError(string? json) =>
        string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize(json!, Context.TaskError);

    /// <summary>Parses and checks an envelope; throws <see cref="MalformedTaskException"/> saying what is wrong.</summary>
    public static TaskEnvelope ReadEnvelope(string? json) =>
        ReadEnvelopeUtf8(string.IsNullOrWhiteSpace(json) ? default : System.Text.Encoding.UTF8.GetBytes(json));

    /// <summary>
    /// Parses and checks an envelope in UTF-8, as Redis returns it (no transcoding to a string first); a signature line
    /// in front of it is skipped here, not checked (a worker checks it first: <see cref="Security.SignaturePolicy"/>).
    /// </summary>
    public static TaskEnvelope ReadEnvelopeUtf8(ReadOnlySpan<byte> utf8)
    {
        utf8 = utf8.Slice(Security.EnvelopeSignature.BodyOffset(utf8));
        if (utf8.IsEmpty) throw new MalformedTaskException("The task has no body (its envelope is missing from the tasks hash).");
        try
        {
            return Checked(JsonSerializer.Deserialize(utf8, Context.TaskEnvelope));
        }
        catch (JsonException ex)
        {
            throw new MalformedTaskException("The task body is not valid JSON: " + ex.Message);
        }
    }

    private static TaskEnvelope Checked(TaskEnvelope? envelope)
    {
        if (envelope is null)
            throw new MalformedTaskException("The task body is JSON null.");
        if (envelope.Version > TaskEnvelope.CurrentVersion)
            throw new UnsupportedVersionException(envelope.Version);
        if (envelope.Version != TaskEnvelope.CurrentVersion)
            throw new MalformedTaskException(
                $"The task envelope has version {envelope.Version}; this worker reads version {TaskEnvelope.CurrentVersion}.");
        switch (envelope.Kind)
        {
            case TaskEnvelope.Kinds.Script when string.IsNullOrWhiteSpace(envelope.Script):
                throw new MalformedTaskException("The script task has no 'script'.");
            case TaskEnvelope.Kinds.Command when string.IsNullOrWhiteSpace(envelope.Command):
                throw new MalformedTaskException("The command task has no 'command'.");
            case TaskEnvelope.Kinds.Script:
            case TaskEnvelope.Kinds.Command:
                break;
            default:
                throw new MalformedTaskException($"The task kind '{envelope.Kind}' is not 'script' or 'command'.");
        }
        if (envelope.Args is { } args && args.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
            throw new MalformedTaskException("The task's 'args' must be a JSON array.");
        if (envelope.Params is { } ps && ps.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            throw new MalformedTaskException("The task's 'params' must be a JSON object.");
        if (envelope.MaxAttempts < 1) envelope.MaxAttempts = 1;
        return envelope;
    }
}

public class MalformedTaskException : Exception
{
    public MalformedTaskException(string message) : base(message) { }
}

/// <summary>
/// An envelope of a newer version than this code reads (docs/PROTOCOL.md "Versions"): not malformed, only not for this
/// worker. A worker gives such a task back for later (defer.lua) so that a newer worker of the fleet runs it.
/// </summary>
public sealed class UnsupportedVersionException : MalformedTaskException
{
    public UnsupportedVersionException(int version)
        : base($"The task envelope has version {version}; this worker reads version {TaskEnvelope.CurrentVersion}.") => Version = version;

    /// <summary>The envelope's version.</summary>
    public int Version { get; }
}

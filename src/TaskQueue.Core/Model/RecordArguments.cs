using System;
using System.IO;
using System.Text;
using System.Text.Json;

namespace TaskQueue.Core.Model;

/// <summary>
/// A task's arguments as its success and failure records keep them (the task's `args` and `params` as sent, redacted
/// as outputs are): a value under a secret name (Password, Token, ApiKey, ...) reads `***`, and an assigned credential
/// in a string (`Password=x;`) too. Arguments longer than <see cref="RecordLimits.MaxTextChars"/> as JSON are not kept.
/// </summary>
public static class RecordArguments
{
    /// <summary>What a record holds instead of a secret.</summary>
    public const string Redacted = "***";

    /// <summary>
    /// Names of properties and keys whose values a record never holds: pwd, and any name containing Password, Passwd,
    /// Secret, Token, ApiKey, PrivateKey or Authorization.
    /// </summary>
    public static bool IsSecretName(string name)
    {
        if (name.Equals("pwd", StringComparison.OrdinalIgnoreCase)) return true;
        foreach (var part in SecretNameParts)
            if (name.IndexOf(part, StringComparison.OrdinalIgnoreCase) >= 0) return true;
        return false;
    }

    private static readonly string[] SecretNameParts = { "Password", "Passwd", "Secret", "Token", "ApiKey", "PrivateKey", "Authorization" };

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// The value as a record keeps it: null when absent, empty, or longer than a record keeps (<paramref name="cut"/>
    /// then says so). Cheap for the common case: an array of numbers and plain strings is kept as sent.
    /// </summary>
    public static string? Of(JsonElement? value, out bool cut)
    {
        cut = false;
        if (value is not { } element || element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return null;
        if (element.ValueKind == JsonValueKind.Array && element.GetArrayLength() == 0) return null;
        var raw = element.GetRawText();
        // No object (so no key to hide) and no '=' or ':' (so no assigned credential): nothing to redact.
        if (raw.IndexOf('{') >= 0 || raw.IndexOf('=') >= 0 || raw.IndexOf(':') >= 0) raw = Redact(element);
        if (raw.Length <= RecordLimits.MaxTextChars) return raw;
        cut = true;
        return null;
    }

    private static string Redact(JsonElement element)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, WriterOptions)) Write(json, element);
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static void Write(Utf8JsonWriter json, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                json.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    json.WritePropertyName(property.Name);
                    if (IsSecretName(property.Name)) json.WriteStringValue(Redacted);
                    else Write(json, property.Value);
                }
                json.WriteEndObject();
                return;
            case JsonValueKind.Array:
                json.WriteStartArray();
                foreach (var item in element.EnumerateArray()) Write(json, item);
                json.WriteEndArray();
                return;
            case JsonValueKind.String:
                json.WriteStringValue(TaskEnvelope.RedactAssignedCredentials(element.GetString()!));
                return;
            default:
                element.WriteTo(json);
                return;
        }
    }
}

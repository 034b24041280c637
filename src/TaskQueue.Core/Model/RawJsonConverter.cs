using System;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TaskQueue.Core.Model;

/// <summary>
/// Keeps a JSON value as its text: written as-is, read back as its raw text. Task output arrives from the
/// executor as JSON text and goes into a record unparsed, which saves a parse and a copy per task.
/// </summary>
public sealed class RawJsonConverter : JsonConverter<string?>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.GetRawText();
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null) writer.WriteNullValue();
        else writer.WriteRawValue(value, skipInputValidation: true);
    }
}

using System;
using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace TaskQueue.PowerShell.Serialization;

/// <summary>
/// Turns JSON back into PowerShell values: objects become hashtables (arguments, so they splat and
/// bind to [hashtable] parameters) or [pscustomobject]s (output, so they format as tables);
/// ISO 8601 round-trip strings become [datetime], as with ConvertFrom-Json.
/// </summary>
internal static class PSJsonReader
{
    private static readonly Regex RoundTripDate = new(
        @"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$",
        RegexOptions.CultureInvariant | RegexOptions.Compiled);

    public static object? ToArgument(JsonElement element) => Read(element, asHashtable: true);

    public static object? ToOutput(JsonElement element) => Read(element, asHashtable: false);

    /// <summary>The output objects of a record, from its JSON array text.</summary>
    public static object?[] OutputFromJson(string? json)
    {
        if (string.IsNullOrEmpty(json)) return Array.Empty<object?>();
        using var document = JsonDocument.Parse(json!);
        return Read(document.RootElement, asHashtable: false) as object?[] ?? Array.Empty<object?>();
    }

    /// <summary>A record's arguments (its `args` JSON array text) as the task received them; null when it has none.</summary>
    public static object?[]? ArgumentsFromJson(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        using var document = JsonDocument.Parse(json!);
        return Read(document.RootElement, asHashtable: true) as object?[];
    }

    /// <summary>A record's named parameters (its `params` JSON object text); null when it has none.</summary>
    public static Hashtable? ParametersFromJson(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        using var document = JsonDocument.Parse(json!);
        return Read(document.RootElement, asHashtable: true) as Hashtable;
    }

    private static object? Read(JsonElement element, bool asHashtable)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Null:
            case JsonValueKind.Undefined:
                return null;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.Number:
                if (element.TryGetInt32(out var i)) return i;
                if (element.TryGetInt64(out var l)) return l;
                return element.GetDouble();
            case JsonValueKind.String:
                var text = element.GetString()!;
                if (text.Length >= 19 && RoundTripDate.IsMatch(text)
                    && DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var date))
                    return date;
                return text;
            case JsonValueKind.Array:
                var items = new object?[element.GetArrayLength()];
                var index = 0;
                foreach (var item in element.EnumerateArray()) items[index++] = Read(item, asHashtable);
                return items;
            case JsonValueKind.Object:
                if (asHashtable)
                {
                    var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
                    foreach (var property in element.EnumerateObject()) table[property.Name] = Read(property.Value, true);
                    return table;
                }
                var pso = new PSObject();
                foreach (var property in element.EnumerateObject())
                    pso.Properties.Add(new PSNoteProperty(property.Name, Read(property.Value, false)));
                return pso;
            default:
                return element.GetRawText();
        }
    }
}

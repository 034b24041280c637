using System;
using System.Linq;
using TaskQueue.Core.Model;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Management.Automation;
using System.Text;
using System.Text.Json;

namespace TaskQueue.PowerShell.Serialization;

/// <summary>
/// Turns PowerShell values into JSON. Arguments are written strictly (anything that would not come back
/// as the same data is refused, naming the argument); task output is written leniently (objects of other
/// types become their properties, down to a few levels, then text), so a task never fails for its output.
/// </summary>
internal sealed class PSJsonWriter
{
    public const int MaxArgumentDepth = 32;
    public const int OutputObjectDepth = 3;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly bool _strict;
    private readonly List<object> _path = new();

    private PSJsonWriter(bool strict) => _strict = strict;

    /// <summary>Writes argument values as a JSON array; throws <see cref="ArgumentNotSerializableException"/>.</summary>
    public static string ArgumentsToJson(IReadOnlyList<object?> values, IReadOnlyList<string> names) => WriteStrict((writer, json) =>
    {
        json.WriteStartArray();
        for (var i = 0; i < values.Count; i++) writer.WriteValue(json, values[i], names[i], 0);
        json.WriteEndArray();
    });

    /// <summary>Writes the -ArgumentList of a cmdlet as a JSON array, naming a bad item by its position.</summary>
    public static string ArgumentListToJson(IReadOnlyList<object?> argumentList)
    {
        var names = new string[argumentList.Count];
        for (var i = 0; i < names.Length; i++) names[i] = $"-ArgumentList item {i + 1}";
        return ArgumentsToJson(argumentList, names);
    }

    /// <summary>A JSON text as an element that outlives its document (for envelope fields).</summary>
    public static JsonElement ToElement(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    /// <summary>Writes a hashtable of parameters as a JSON object; throws <see cref="ArgumentNotSerializableException"/>.</summary>
    public static string ParametersToJson(IDictionary parameters) => WriteStrict((writer, json) =>
    {
        json.WriteStartObject();
        foreach (DictionaryEntry entry in parameters)
        {
            var name = entry.Key?.ToString() ?? "";
            json.WritePropertyName(name);
            writer.WriteValue(json, entry.Value, "parameter '" + name + "'", 0);
        }
        json.WriteEndObject();
    });

    /// <summary>Writes named values (a script's $using: values) as a JSON object, naming a bad one; throws <see cref="ArgumentNotSerializableException"/>.</summary>
    public static string NamedValuesToJson(IReadOnlyList<KeyValuePair<string, object?>> values) => WriteStrict((writer, json) =>
    {
        json.WriteStartObject();
        foreach (var pair in values)
        {
            json.WritePropertyName(pair.Key);
            writer.WriteValue(json, pair.Value, pair.Key, 0);
        }
        json.WriteEndObject();
    });

    // Task output is written on the slot threads, once per task: each thread keeps its stream and JSON writer.
    [ThreadStatic] private static MemoryStream? t_outputStream;
    [ThreadStatic] private static Utf8JsonWriter? t_outputJson;
    /// <summary>A thread's output stream grown beyond this by a big output is dropped rather than kept.</summary>
    private const int MaxKeptOutputBuffer = 1 << 20;

    /// <summary>Writes task output as a JSON array; never throws for the shape of the objects.</summary>
    public static string OutputToJson(IEnumerable<PSObject> output)
    {
        var stream = t_outputStream ??= new MemoryStream();
        var json = t_outputJson ??= new Utf8JsonWriter(stream, WriterOptions);
        stream.SetLength(0);
        json.Reset(stream);
        var writer = new PSJsonWriter(strict: false);
        json.WriteStartArray();
        // The name only serves the errors of strict (argument) writing; output is written leniently.
        foreach (var item in output) writer.WriteValue(json, item, "output", 0);
        json.WriteEndArray();
        json.Flush();
        var text = Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        if (stream.Capacity > MaxKeptOutputBuffer)
        {
            t_outputStream = null;
            t_outputJson = null;
        }
        return text;
    }

    /// <summary>One JSON document written strictly (task data: anything that would not come back the same is refused).</summary>
    private static string WriteStrict(Action<PSJsonWriter, Utf8JsonWriter> write)
    {
        var writer = new PSJsonWriter(strict: true);
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, WriterOptions)) write(writer, json);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private void WriteValue(Utf8JsonWriter json, object? value, string name, int depth)
    {
        if (value is PSObject pso)
        {
            if (pso.BaseObject is PSCustomObject)
            {
                WriteProperties(json, pso, name, depth, adaptedToo: false);
                return;
            }
            value = pso.BaseObject;
        }
        switch (value)
        {
            case null:
                json.WriteNullValue();
                return;
            case string s:
                // Task output (not arguments, which must come back the same): a connection string's Password=... is not kept.
                json.WriteStringValue(_strict ? s : TaskEnvelope.RedactAssignedCredentials(s));
                return;
            case char c:
                json.WriteStringValue(c.ToString());
                return;
            case bool b:
                json.WriteBooleanValue(b);
                return;
            case SwitchParameter sw:
                json.WriteBooleanValue(sw.IsPresent);
                return;
            case Enum e:
                json.WriteStringValue(e.ToString());
                return;
            case int or long or short or byte or sbyte or uint or ushort:
                json.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                return;
            case ulong ul:
                json.WriteNumberValue(ul);
                return;
            case decimal m:
                json.WriteNumberValue(m);
                return;
            case double or float:
                var d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (double.IsNaN(d) || double.IsInfinity(d))
                {
                    if (_strict) throw new ArgumentNotSerializableException(name, $"{name} is {d}, which JSON cannot carry.");
                    json.WriteStringValue(d.ToString(CultureInfo.InvariantCulture));
                    return;
                }
                json.WriteNumberValue(d);
                return;
            case DateTime dt:
                json.WriteStringValue(dt.ToString("o", CultureInfo.InvariantCulture));
                return;
            case DateTimeOffset dto:
                json.WriteStringValue(dto.ToString("o", CultureInfo.InvariantCulture));
                return;
            case TimeSpan ts:
                json.WriteStringValue(ts.ToString("c", CultureInfo.InvariantCulture));
                return;
            case Guid or Uri or Version or System.Net.IPAddress or System.Numerics.BigInteger:
                json.WriteStringValue(value.ToString());
                return;
            case FileSystemInfo file:
                json.WriteStringValue(file.FullName);
                return;
            case System.Security.SecureString:
                if (_strict) throw new ArgumentNotSerializableException(name, $"{name} is a SecureString, which is never sent or stored: the worker should read the secret itself (a vault, a file only its account can read).");
                json.WriteStringValue(Redacted);
                return;
            case PSCredential credential:
                if (_strict) throw new ArgumentNotSerializableException(name, $"{name} is a PSCredential, whose password is never sent or stored: send the user name, and let the worker read the password itself.");
                json.WriteStartObject();
                json.WriteString("UserName", credential.UserName);
                json.WriteString("Password", Redacted);
                json.WriteEndObject();
                return;
            case ScriptBlock block:
                if (_strict)
                    throw new ArgumentNotSerializableException(name,
                        $"{name} is a script block, which cannot be sent: code travels as the task's -ScriptBlock; pass its text (.ToString()) if the task needs it as data.");
                json.WriteStringValue(block.ToString());
                return;
        }

        if (depth >= (_strict ? MaxArgumentDepth : OutputObjectDepth))
        {
            if (_strict)
                throw new ArgumentNotSerializableException(name, $"{name} is nested more than {MaxArgumentDepth} levels deep.");
            json.WriteStringValue(value.ToString());
            return;
        }
        if (ContainsReference(value))
        {
            if (_strict)
                throw new ArgumentNotSerializableException(name, $"{name} contains a reference to itself, which JSON cannot carry.");
            json.WriteStringValue(value.ToString());
            return;
        }

        _path.Add(value);
        try
        {
            switch (value)
            {
                case IDictionary dictionary:
                    json.WriteStartObject();
                    foreach (DictionaryEntry entry in dictionary)
                    {
                        var key = entry.Key?.ToString() ?? "";
                        json.WritePropertyName(key);
                        if (!_strict && IsSecretName(key)) json.WriteStringValue(Redacted);
                        else WriteValue(json, entry.Value, name, depth + 1);
                    }
                    json.WriteEndObject();
                    return;
                case IEnumerable sequence:
                    json.WriteStartArray();
                    foreach (var item in sequence) WriteValue(json, item, name, depth + 1);
                    json.WriteEndArray();
                    return;
            }
            if (_strict)
                throw new ArgumentNotSerializableException(name,
                    $"{name} is a {value.GetType().FullName}, which cannot be sent as task data. Send strings, numbers, booleans, dates, arrays, hashtables or [pscustomobject]s (for example, pick properties with Select-Object).");
            WriteProperties(json, PSObject.AsPSObject(value), name, depth, adaptedToo: true);
        }
        finally
        {
            _path.RemoveAt(_path.Count - 1);
        }
    }

    private void WriteProperties(Utf8JsonWriter json, PSObject pso, string name, int depth, bool adaptedToo)
    {
        if (depth >= (_strict ? MaxArgumentDepth : OutputObjectDepth))
        {
            if (_strict) throw new ArgumentNotSerializableException(name, $"{name} is nested more than {MaxArgumentDepth} levels deep.");
            json.WriteStringValue(pso.ToString());
            return;
        }
        if (ContainsReference(pso))
        {
            if (_strict) throw new ArgumentNotSerializableException(name, $"{name} contains a reference to itself, which JSON cannot carry.");
            json.WriteStringValue(pso.ToString());
            return;
        }
        _path.Add(pso);
        try
        {
            json.WriteStartObject();
            var members = adaptedToo ? pso.Properties : (IEnumerable<PSPropertyInfo>)pso.Properties.Match("*", PSMemberTypes.NoteProperty | PSMemberTypes.ScriptProperty | PSMemberTypes.AliasProperty | PSMemberTypes.CodeProperty);
            foreach (var property in members)
            {
                object? propertyValue;
                try
                {
                    if (!property.IsGettable) continue;
                    propertyValue = property.Value;
                }
                catch (Exception) when (!_strict)
                {
                    continue;
                }
                json.WritePropertyName(property.Name);
                if (!_strict && IsSecretName(property.Name)) json.WriteStringValue(Redacted);
                else WriteValue(json, propertyValue, name, depth + 1);
            }
            json.WriteEndObject();
        }
        finally
        {
            _path.RemoveAt(_path.Count - 1);
        }
    }

    /// <summary>What a record holds instead of a secret.</summary>
    public const string Redacted = RecordArguments.Redacted;

    /// <summary>Names of properties and keys whose values a record never holds (<see cref="RecordArguments.IsSecretName"/>).</summary>
    public static bool IsSecretName(string name) => RecordArguments.IsSecretName(name);

    private bool ContainsReference(object value)
    {
        foreach (var seen in _path)
        {
            if (ReferenceEquals(seen, value)) return true;
            if (seen is PSObject a && value is PSObject b && ReferenceEquals(a.BaseObject, b.BaseObject) && a.BaseObject is not PSCustomObject) return true;
        }
        return false;
    }
}

/// <summary>An argument or parameter value that cannot travel as JSON; the message names it.</summary>
internal sealed class ArgumentNotSerializableException : Exception
{
    public ArgumentNotSerializableException(string argumentName, string message) : base(message)
    {
        ArgumentName = argumentName;
    }

    public string ArgumentName { get; }
}

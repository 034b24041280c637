using System;
using System.Collections;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Text;

namespace TaskQueue.PowerShell.Records;

/// <summary>
/// How the default table views (TaskQueue.Format.ps1xml) show a record's values in a column: short, on one line, so
/// that the tables fit 80 and 120 columns. The records keep the full values as properties.
/// </summary>
public static class RecordText
{
    /// <summary>Characters of a task id the tables show; the full id stays the Id property.</summary>
    public const int ShortIdLength = 8;

    /// <summary>The first characters of an id (enough to tell tasks apart in a listing).</summary>
    public static string ShortId(string? id) => id is null ? "" : id.Length <= ShortIdLength ? id : id.Substring(0, ShortIdLength);

    /// <summary>A time in local time on one line; empty when there is none.</summary>
    public static string Time(DateTimeOffset? time, string format) =>
        time is { } t && t != default ? t.ToLocalTime().ToString(format, CultureInfo.CurrentCulture) : "";

    /// <summary>A duration that reads at a glance: 0.007 s, 12.4 s, 3m 05s, 2h 10m.</summary>
    public static string Duration(TimeSpan duration) =>
        duration.TotalSeconds < 10 ? duration.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + " s"
        : duration.TotalSeconds < 60 ? duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : duration.TotalHours < 1 ? $"{(int)duration.TotalMinutes}m {duration.Seconds:00}s"
        : $"{(int)duration.TotalHours}h {duration.Minutes:00}m";

    /// <summary>A message's lines joined into one.</summary>
    public static string OneLine(string? text) =>
        string.IsNullOrEmpty(text) ? "" : string.Join(" ", text!.Split(new[] { '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));

    /// <summary>A log entry's text on one line; progress as "activity: status 40%".</summary>
    public static string LogMessage(TaskLogEntry entry)
    {
        if (entry.Stream != Core.Model.TaskStreamEntry.Progress) return OneLine(entry.Message);
        var text = string.IsNullOrEmpty(entry.Status) ? entry.Activity ?? "" : $"{entry.Activity}: {entry.Status}";
        if (entry.PercentComplete is >= 0 and var percent) text += $" {percent}%";
        return OneLine(entry.Completed ? text + " (completed)" : text);
    }

    /// <summary>A task's arguments on one line: positional ones joined by ", ", then named ones as Name=value.</summary>
    public static string Arguments(object?[]? argumentList, IDictionary? parameters)
    {
        var text = new StringBuilder();
        if (argumentList is not null)
            foreach (var value in argumentList) Append(text, null, value);
        if (parameters is not null)
            foreach (var key in parameters.Keys.Cast<object>().Select(k => k.ToString()).OrderBy(k => k, StringComparer.OrdinalIgnoreCase))
                Append(text, key, parameters[key!]);
        return text.ToString();
    }

    /// <summary>Output objects on one line: values as text, objects as Name=value pairs.</summary>
    public static string Output(object?[]? output) =>
        output is null ? "" : string.Join(", ", output.Select(Value));

    private static void Append(StringBuilder text, string? name, object? value)
    {
        if (text.Length > 0) text.Append(", ");
        if (name is not null) text.Append(name).Append('=');
        text.Append(Value(value));
    }

    private static string Value(object? value)
    {
        switch (value)
        {
            case null: return "$null";
            case PSObject pso when pso.BaseObject is PSCustomObject:
                return "{" + string.Join("; ", pso.Properties.Select(p => $"{p.Name}={Value(p.Value)}")) + "}";
            case PSObject pso: return Value(pso.BaseObject);
            case string s: return OneLine(s);
            case IDictionary table:
                return "@{" + string.Join("; ", table.Keys.Cast<object>().Select(k => $"{k}={Value(table[k])}")) + "}";
            case IEnumerable sequence:
                return "(" + string.Join(", ", sequence.Cast<object?>().Select(Value)) + ")";
            case DateTime d: return d.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            case IFormattable f: return f.ToString(null, CultureInfo.InvariantCulture);
            default: return OneLine(value.ToString());
        }
    }
}

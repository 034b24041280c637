using System;
using System.Collections;
using System.Collections.Generic;
using System.Reflection;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// The process's environment variables as a worker started: after each task, what a task set, changed or removed
/// with <c>$env:</c> is put back, so it is not the next task's. Environment variables belong to the process, so a
/// worker started with -AsJob in an interactive session puts back that session's changes made while a task ran too
/// (changes made while no task runs are kept).
/// </summary>
/// <remarks>
/// Comparing through <see cref="Environment.GetEnvironmentVariables()"/> costs a table of every variable (about 10 KB)
/// a call; on Unix, .NET 8 keeps the variables in one managed dictionary, which is compared entry by entry (reference
/// equality: a value set anew is a new string) in well under a microsecond. Where that dictionary is not found (Windows,
/// and .NET 9 and later, which keep them in the runtime's native part), the public call is used, its answer compared as
/// it comes (BENCHMARKS.md, "Where the quarter lost since 8346b93 went").
/// </remarks>
internal sealed class EnvironmentBaseline
{
    private static readonly FieldInfo? Cache = typeof(Environment).GetField("s_environ", BindingFlags.NonPublic | BindingFlags.Static);

    private Dictionary<string, string> _start = new(StringComparer.Ordinal);
    private int _running;

    public EnvironmentBaseline() => Take();

    private void Take()
    {
        var start = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables()) start[(string)entry.Key] = (string?)entry.Value ?? "";
        // Reading them once fills the managed cache on Unix; from now on the cache holds the same strings.
        if (Live() is { } live)
            lock (live) foreach (var pair in live) start[pair.Key] = pair.Value;
        _start = start;
    }

    /// <summary>
    /// A task starts. What changed while no task ran (the session of an -AsJob worker setting a variable) is taken as
    /// the new baseline, so that only what tasks change is put back.
    /// </summary>
    public void Begin()
    {
        lock (this)
        {
            if (_running++ == 0 && Changed()) Take();
        }
    }

    /// <summary>A task ended: puts back the variables it changed.</summary>
    public void End()
    {
        Restore();
        lock (this) _running--;
    }

    private bool Changed()
    {
        var live = Live();
        if (live is null) return false;
        try { return live.Count != _start.Count || !Unchanged(live); }
        catch (InvalidOperationException) { return true; }
    }

    private static Dictionary<string, string>? Live() => Cache?.GetValue(null) as Dictionary<string, string>;

    /// <summary>Puts back the variables a task changed; cheap when none did.</summary>
    private void Restore()
    {
        var live = Live();
        if (live is not null)
        {
            try
            {
                if (live.Count == _start.Count && Unchanged(live)) return;
            }
            catch (InvalidOperationException)
            {
                // Another thread changed a variable while this one compared: compare a copy.
            }
            Dictionary<string, string> copy;
            lock (live) copy = new Dictionary<string, string>(live, StringComparer.Ordinal);
            RestoreFrom(copy);
            return;
        }
        // Where the runtime keeps no managed copy (.NET 9 and later keep the variables in the runtime's native part):
        // the public call, compared as it comes, without a copy.
        var variables = Environment.GetEnvironmentVariables();
        if (variables.Count == _start.Count && UnchangedIn(variables)) return;
        var now = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in variables) now[(string)entry.Key] = (string?)entry.Value ?? "";
        RestoreFrom(now);
    }

    private bool UnchangedIn(IDictionary variables)
    {
        foreach (DictionaryEntry entry in variables)
        {
            if (!_start.TryGetValue((string)entry.Key, out var value) || value != (string?)entry.Value) return false;
        }
        return true;
    }

    private bool Unchanged(Dictionary<string, string> live)
    {
        foreach (var pair in live)
        {
            if (!_start.TryGetValue(pair.Key, out var value) || !ReferenceEquals(value, pair.Value) && value != pair.Value) return false;
        }
        return true;
    }

    private void RestoreFrom(Dictionary<string, string> now)
    {
        foreach (var pair in now)
        {
            if (!_start.ContainsKey(pair.Key)) Environment.SetEnvironmentVariable(pair.Key, null);
        }
        foreach (var pair in _start)
        {
            if (!now.TryGetValue(pair.Key, out var value) || value != pair.Value) Environment.SetEnvironmentVariable(pair.Key, pair.Value);
        }
    }
}

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
/// a call, so the check after each task looks for a cheaper way first (BENCHMARKS.md, "Where the quarter lost since
/// 8346b93 went"):
/// <list type="bullet">
/// <item>on Unix, .NET 8 keeps the variables in one managed dictionary, compared entry by entry (reference equality: a
/// value set anew is a new string) in well under a microsecond;</item>
/// <item>.NET 9 and later (and .NET on Windows) keep them in the runtime's native part and build the public table from
/// one block of text (<c>GetEnvironmentStringsW</c>, Windows' own call, which the runtime also serves on Unix): that
/// block is compared with the one taken at the start, without a managed allocation;</item>
/// <item>where neither is found (Windows PowerShell 5.1), the public call, its answer compared as it comes.</item>
/// </list>
/// Only when the cheap check sees a difference is the full table read and what changed put back.
/// </remarks>
internal sealed class EnvironmentBaseline
{
    private static readonly FieldInfo? Cache = typeof(Environment).GetField("s_environ", BindingFlags.NonPublic | BindingFlags.Static);

    private Dictionary<string, string> _start = new(StringComparer.Ordinal);
    private char[]? _startBlock;
    private int _running;
    private readonly bool _sessionLive;

    /// <param name="sessionLive">
    /// The process runs other commands while the worker waits for tasks (Start-TqWorker -AsJob in an interactive
    /// session): before a task starts, what changed since the last one is taken as the new baseline. A worker in the
    /// foreground holds its session, so nothing but its tasks changes the environment, and that second check of every
    /// task (some 3.5 us, a tenth of a no-op task at one runspace) is skipped.
    /// </param>
    public EnvironmentBaseline(bool sessionLive)
    {
        _sessionLive = sessionLive;
        Take();
    }

    private void Take()
    {
        if (EnvironmentBlock.Copy() is { } block)
        {
            // The table and the block to compare with come from one copy.
            _start = EnvironmentBlock.Parse(block);
            _startBlock = block;
            return;
        }
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
            if (_running++ == 0 && _sessionLive && Changed()) Take();
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
        if (_startBlock is not null) return !EnvironmentBlock.Matches(_startBlock);
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
        if (_startBlock is { } startBlock)
        {
            if (EnvironmentBlock.Matches(startBlock)) return;
            if (EnvironmentBlock.Copy() is { } block)
            {
                var changed = EnvironmentBlock.Parse(block);
                // The same variables in another order (one removed and set again): this block is the one to compare
                // with from now on. Taken from the very copy that was compared, so no other task's change slips in.
                if (changed.Count == _start.Count && Unchanged(changed)) _startBlock = block;
                else RestoreFrom(changed);
                return;
            }
        }
        // No block to compare: the public call, compared as it comes, without a copy.
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

using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// What a task can change in the global scope of a reused runspace (variables, preference variables, $Error,
/// $PSDefaultParameterValues, functions, aliases, the location), taken once the runspace is ready, compared after each
/// task and put back when a task changed it. A task runs in a child scope, but <c>$global:</c>, <c>$script:</c>,
/// <c>Set-Item function:global:</c> and <c>Set-Location</c> reach past it: without this, one task's globals, secrets in
/// <c>$Error</c> or a redefined function were the next task's.
/// </summary>
/// <remarks>
/// PowerShell's own <see cref="Runspace.ResetRunspaceState"/> resets variables and the location only, and costs about
/// 0.5 ms a call here (a no-op task costs some 25 us), so the tables of the global scope are read directly: comparing
/// them costs a few microseconds when nothing changed, which is nearly always. The tables are internal to PowerShell;
/// where they cannot be found (another PowerShell version), <see cref="TryTake"/> returns null and the executor replaces
/// the runspace after every task instead. Whatever cannot be put back (a variable made constant, a function rewritten
/// in place, a module imported from outside PowerShell's own folder, type or format data added, a command lookup hook
/// set) makes <see cref="Restore"/> return false, and the runspace is replaced: a module that exports <c>Set-Item</c>
/// or <c>Get-Date</c> globally, an <c>Update-TypeData</c> on <c>System.String</c> or a <c>PreCommandLookupAction</c>
/// never reaches the next task. PowerShell's own modules (under $PSHOME, imported on first use of their commands,
/// which every task would otherwise repeat) and the worker's -Module stay imported.
/// </remarks>
internal sealed class RunspaceBaseline
{
    private const BindingFlags Internal = BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Instance;

    private readonly Runspace _runspace;
    private readonly Dictionary<string, PSVariable> _variables;
    private readonly Dictionary<string, FunctionInfo> _functions;
    private readonly Dictionary<string, AliasInfo> _aliases;
    private readonly IDictionary _cmdlets;
    private int _cmdletsAtStart;
    private readonly object _sessionState;
    private readonly PropertyInfo _currentDrive;
    private readonly IDictionary _modules;
    private readonly CommandInvocationIntrinsics _invokeCommand;
    private static readonly string SystemModules = System.IO.Path.Combine(
        System.IO.Path.GetDirectoryName(typeof(PSObject).Assembly.Location) ?? "", "Modules") + System.IO.Path.DirectorySeparatorChar;

    private HashSet<string> _modulesAtStart = new(StringComparer.OrdinalIgnoreCase);
    private int _typesAtStart;
    private int _formatsAtStart;
    private (object? Pre, object? Post, object? NotFound, object? LocationChanged) _hooksAtStart;
    // Not in the reference assemblies of PowerShell 5.1 the module builds against; read where the running PowerShell has it.
    private static readonly PropertyInfo? LocationChangedProperty = typeof(CommandInvocationIntrinsics).GetProperty("LocationChangedAction");
    private object? LocationChanged => LocationChangedProperty?.GetValue(_invokeCommand);

    private Dictionary<string, (PSVariable Variable, object? Value)> _variablesAtStart = new();
    private Dictionary<string, (FunctionInfo Function, ScriptBlock Body)> _functionsAtStart = new();
    private Dictionary<string, (AliasInfo Alias, string Definition)> _aliasesAtStart = new();
    private PSDriveInfo? _driveAtStart;
    private string _locationAtStart = "";
    private string _pathAtStart = "";
    private ArrayList? _errors;
    private IDictionary? _defaults;

    private RunspaceBaseline(Runspace runspace, object sessionState, PropertyInfo currentDrive, object globalScope, Type scopeType)
    {
        _runspace = runspace;
        _sessionState = sessionState;
        _currentDrive = currentDrive;
        _modules = (IDictionary)sessionState.GetType().GetProperty("ModuleTable", Internal)!.GetValue(sessionState)!;
        _invokeCommand = runspace.SessionStateProxy.InvokeCommand;
        _variables = (Dictionary<string, PSVariable>)Field(scopeType, "_variables").GetValue(globalScope)!;
        _functions = (Dictionary<string, FunctionInfo>)Field(scopeType, "_functions").GetValue(globalScope)!;
        _aliases = (Dictionary<string, AliasInfo>)Field(scopeType, "_alias").GetValue(globalScope)!;
        _cmdlets = (IDictionary)Field(scopeType, "_cmdlets").GetValue(globalScope)!;
        Take();
    }

    private static FieldInfo Field(Type type, string name) =>
        type.GetField(name, Internal) ?? throw new MissingFieldException(type.FullName, name);

    /// <summary>The baseline of an open runspace, or null when this PowerShell's session state cannot be read.</summary>
    public static RunspaceBaseline? TryTake(Runspace runspace)
    {
        try
        {
            var context = typeof(Runspace).GetProperty("ExecutionContext", Internal)!.GetValue(runspace)!;
            var sessionState = context.GetType().GetProperty("EngineSessionState", Internal)!.GetValue(context)!;
            var globalScope = sessionState.GetType().GetProperty("GlobalScope", Internal)!.GetValue(sessionState)!;
            var currentDrive = sessionState.GetType().GetProperty("CurrentDrive", Internal)!;
            return new RunspaceBaseline(runspace, sessionState, currentDrive, globalScope, globalScope.GetType());
        }
        catch (Exception ex) when (ex is NullReferenceException or MissingFieldException or InvalidCastException or TargetInvocationException)
        {
            return null;
        }
    }

    /// <summary>Takes the current state as the one to come back to (once the worker's modules are imported).</summary>
    public void Take()
    {
        _variablesAtStart = _variables.ToDictionary(v => v.Key, v => (v.Value, Read(v.Value)), StringComparer.OrdinalIgnoreCase);
        _functionsAtStart = _functions.ToDictionary(f => f.Key, f => (f.Value, f.Value.ScriptBlock), StringComparer.OrdinalIgnoreCase);
        _aliasesAtStart = _aliases.ToDictionary(a => a.Key, a => (a.Value, a.Value.Definition), StringComparer.OrdinalIgnoreCase);
        _cmdletsAtStart = _cmdlets.Count;
        _driveAtStart = Drive;
        _locationAtStart = _driveAtStart?.CurrentLocation ?? "";
        _pathAtStart = _runspace.SessionStateProxy.Path.CurrentLocation.Path;
        _errors = _variables.TryGetValue("Error", out var error) ? error.Value as ArrayList : null;
        _defaults = _variables.TryGetValue("PSDefaultParameterValues", out var defaults) ? defaults.Value as IDictionary : null;
        _modulesAtStart = new HashSet<string>(_modules.Keys.Cast<string>(), StringComparer.OrdinalIgnoreCase);
        _typesAtStart = _runspace.InitialSessionState?.Types.Count ?? 0;
        _formatsAtStart = _runspace.InitialSessionState?.Formats.Count ?? 0;
        _hooksAtStart = Hooks;
    }

    private (object? Pre, object? Post, object? NotFound, object? LocationChanged) Hooks =>
        (_invokeCommand.PreCommandLookupAction, _invokeCommand.PostCommandLookupAction, _invokeCommand.CommandNotFoundAction, LocationChanged);

    /// <summary>A module that may stay imported from task to task: one of PowerShell's own, or one the runspace had at the start.</summary>
    private bool Trusted(PSModuleInfo? module) =>
        module is null || _modulesAtStart.Contains(module.Path) || module.Path.StartsWith(SystemModules, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// False when a task changed what the next task's commands resolve to or how values behave, in ways that cannot be
    /// put back in place: modules imported from outside $PSHOME (or removed), type or format data, lookup hooks.
    /// </summary>
    private bool SessionUnchanged()
    {
        if (!Equals(Hooks, _hooksAtStart)) return false;
        var state = _runspace.InitialSessionState;
        if (state is not null && (state.Types.Count != _typesAtStart || state.Formats.Count != _formatsAtStart)) return false;
        if (_modules.Count == _modulesAtStart.Count && _modules.Keys.Cast<string>().All(_modulesAtStart.Contains)) return true;
        var now = _modules.Values.Cast<PSModuleInfo>().ToList();
        if (_modulesAtStart.Any(path => !_modules.Contains(path))) return false;
        if (!now.All(Trusted)) return false;
        foreach (var module in now) _modulesAtStart.Add(module.Path);
        return true;
    }

    /// <summary>A function the executor itself defined after the baseline was taken (a task's compiled script), kept from now on.</summary>
    public void Adopt(string functionName)
    {
        if (_functions.TryGetValue(functionName, out var function)) _functionsAtStart[functionName] = (function, function.ScriptBlock);
    }

    /// <summary>Forgets the functions the executor removed itself.</summary>
    public void Forget(Func<string, bool> isRemoved)
    {
        foreach (var name in _functionsAtStart.Keys.Where(isRemoved).ToList()) _functionsAtStart.Remove(name);
    }

    private PSDriveInfo? Drive => _currentDrive.GetValue(_sessionState) as PSDriveInfo;

    // Some automatic variables compute their value on each read ($?, $PWD): only plain variables are compared by value.
    private static object? Read(PSVariable variable) => variable.GetType() == typeof(PSVariable) ? variable.Value : null;

    private static bool Same(object? a, object? b) =>
        ReferenceEquals(a, b) || (a is ValueType or string && Equals(a, b));

    /// <summary>
    /// Puts the global scope back as it was taken, if a task changed it; false when something could not be put back
    /// (the runspace must then be replaced). Cheap when nothing changed.
    /// </summary>
    public bool Restore()
    {
        try
        {
            if (_errors is { Count: > 0 }) _errors.Clear();
            if (_defaults is { Count: > 0 }) _defaults.Clear();
            // Modules a task imported (PowerShell imports one on first use of its commands) stay: their cmdlets,
            // functions and aliases are kept, and only what scripts defined is removed.
            _cmdletsAtStart = _cmdlets.Count;
            return SessionUnchanged() && RestoreVariables() && RestoreFunctions() && RestoreAliases() && RestoreLocation();
        }
        catch (Exception ex) when (ex is SessionStateException or PSInvalidOperationException or InvalidOperationException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>True when a table differs from its baseline: another count, a name added, or an entry <paramref name="same"/> rejects.</summary>
    private static bool Changed<TEntry, TStart>(Dictionary<string, TEntry> table, Dictionary<string, TStart> start, Func<TEntry, TStart, bool> same)
    {
        if (table.Count != start.Count) return true;
        foreach (var entry in table)
        {
            if (!start.TryGetValue(entry.Key, out var then) || !same(entry.Value, then)) return true;
        }
        return false;
    }

    private bool RestoreVariables()
    {
        if (!Changed(_variables, _variablesAtStart, (now, start) => ReferenceEquals(now, start.Variable) && Same(Read(now), start.Value))) return true;
        foreach (var name in _variables.Keys.Where(n => !_variablesAtStart.ContainsKey(n)).ToList())
        {
            if ((_variables[name].Options & (ScopedItemOptions.Constant | ScopedItemOptions.AllScope)) != 0) return false;
            _variables.Remove(name);
        }
        foreach (var entry in _variablesAtStart)
        {
            var (variable, value) = entry.Value;
            _variables[entry.Key] = variable;
            if (variable.GetType() != typeof(PSVariable) || Same(variable.Value, value)) continue;
            if ((variable.Options & (ScopedItemOptions.ReadOnly | ScopedItemOptions.Constant)) != 0) return false;
            variable.Value = value;
        }
        return true;
    }

    private bool RestoreFunctions()
    {
        if (!Changed(_functions, _functionsAtStart, (now, start) => ReferenceEquals(now, start.Function) && ReferenceEquals(now.ScriptBlock, start.Body))) return true;
        foreach (var name in _functions.Keys.Where(n => !_functionsAtStart.ContainsKey(n)).ToList())
        {
            var added = _functions[name];
            if (added.Module is not null && !Trusted(added.Module)) return false;
            if (added.Module is not null) _functionsAtStart[name] = (added, added.ScriptBlock);
            else _functions.Remove(name);
        }
        foreach (var entry in _functionsAtStart)
        {
            // A function rewritten in place (Set-Item on an existing name updates the same object) cannot be put back.
            if (!ReferenceEquals(entry.Value.Function.ScriptBlock, entry.Value.Body)) return false;
            _functions[entry.Key] = entry.Value.Function;
        }
        return true;
    }

    private bool RestoreAliases()
    {
        if (!Changed(_aliases, _aliasesAtStart, (now, start) => ReferenceEquals(now, start.Alias) && now.Definition == start.Definition)) return true;
        foreach (var name in _aliases.Keys.Where(n => !_aliasesAtStart.ContainsKey(n)).ToList())
        {
            var added = _aliases[name];
            if (added.Module is not null && !Trusted(added.Module)) return false;
            if (added.Module is not null) _aliasesAtStart[name] = (added, added.Definition);
            else _aliases.Remove(name);
        }
        foreach (var entry in _aliasesAtStart)
        {
            if (entry.Value.Alias.Definition != entry.Value.Definition) return false;
            _aliases[entry.Key] = entry.Value.Alias;
        }
        return true;
    }

    private bool RestoreLocation()
    {
        var drive = Drive;
        if (ReferenceEquals(drive, _driveAtStart) && (drive?.CurrentLocation ?? "") == _locationAtStart) return true;
        _runspace.SessionStateProxy.Path.SetLocation(_pathAtStart);
        if (_driveAtStart is not null) _driveAtStart.CurrentLocation = _locationAtStart;
        return true;
    }
}

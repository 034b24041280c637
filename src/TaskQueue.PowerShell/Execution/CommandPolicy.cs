using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Text.RegularExpressions;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// Which command a command task may run (Start-TqWorker -AllowCommand, -NoScriptTask, -Module). The name is resolved by
/// PowerShell's own lookup in the task's runspace, and the command found is what is checked and then invoked, never
/// the name again: a command task runs a cmdlet or a function, never an alias, a native program or a script by path.
/// </summary>
internal sealed class CommandPolicy
{
    // A command task names a command, optionally module-qualified; anything else is not a name.
    private static readonly Regex CommandName = new(@"^([A-Za-z0-9_.\-]+\\)?[A-Za-z0-9_\-]+$", RegexOptions.CultureInvariant);

    /// <summary>Run code from text or start other programs: a -NoScriptTask or NoLanguage worker runs them only when -AllowCommand names them.</summary>
    private static readonly string[] CodeRunners =
    {
        "Invoke-Expression", "Invoke-Command", "Add-Type", "Start-Process", "Start-Job", "Start-ThreadJob",
        "New-Module", "Import-Module", "Invoke-Item", "Set-Item", "New-Item",
    };

    private static readonly string SystemModules = Path.Combine(
        Path.GetDirectoryName(typeof(PSObject).Assembly.Location) ?? "", "Modules") + Path.DirectorySeparatorChar;

    private readonly WildcardPattern[]? _allowed;
    // The name part of each -AllowCommand pattern: a name none of them can match is refused before it is looked up.
    private readonly WildcardPattern[]? _allowedNames;
    private readonly HashSet<string>? _modules;
    private readonly HashSet<string> _workerModules;
    private readonly bool _noCodeRunners;

    /// <param name="allowCommand">-AllowCommand: names or wildcard patterns (Name or Module\Name); null when not given.</param>
    /// <param name="noScriptTask">-NoScriptTask: without -AllowCommand, only the commands of <paramref name="modules"/>, and no code runners.</param>
    /// <param name="noLanguage">-LanguageMode NoLanguage: without -AllowCommand, no code runners.</param>
    public CommandPolicy(IReadOnlyCollection<string>? allowCommand, bool noScriptTask, IEnumerable<string> modules, bool noLanguage = false)
    {
        _workerModules = new HashSet<string>(modules.Select(ModuleName), StringComparer.OrdinalIgnoreCase);
        if (allowCommand is { Count: > 0 })
        {
            _allowed = allowCommand.Select(p => new WildcardPattern(p, WildcardOptions.IgnoreCase | WildcardOptions.CultureInvariant)).ToArray();
            _allowedNames = allowCommand.Select(p => new WildcardPattern(p.Substring(p.LastIndexOf('\\') + 1), WildcardOptions.IgnoreCase | WildcardOptions.CultureInvariant)).ToArray();
        }
        else if (noScriptTask)
            _modules = _workerModules;
        _noCodeRunners = _allowed is null && (noScriptTask || noLanguage);
    }

    // The module a -Module entry names: its file name without a module extension ("Evil.Tools" stays "Evil.Tools").
    private static string ModuleName(string module)
    {
        var name = Path.GetFileName(module.TrimEnd('/', '\\'));
        foreach (var extension in new[] { ".psd1", ".psm1", ".dll" })
            if (name.EndsWith(extension, StringComparison.OrdinalIgnoreCase)) return name.Substring(0, name.Length - extension.Length);
        return name;
    }

    /// <summary>
    /// Why a command name may not even be looked up (looking it up may import the module that has it), or null:
    /// with -AllowCommand, a name that no allowed pattern's name part matches.
    /// </summary>
    public string? RefusalBeforeLookup(string asked)
    {
        if (_allowedNames is null) return null;
        var name = asked.Substring(asked.LastIndexOf('\\') + 1);
        return _allowedNames.Any(p => p.IsMatch(name)) ? null : $"'{asked}' is not among the commands this worker allows (-AllowCommand).";
    }

    /// <summary>A module whose commands a plain name in -AllowCommand may mean: PowerShell's own, or one of the worker's -Module.</summary>
    private bool Trusted(CommandInfo command) =>
        command.Module is null || _workerModules.Contains(command.ModuleName)
        || (command.Module.Path ?? "").StartsWith(SystemModules, StringComparison.OrdinalIgnoreCase);

    /// <summary>True when the name is a command name at all (not a path or an expression).</summary>
    public static bool IsName(string? name) => name is not null && CommandName.IsMatch(name);

    /// <summary>Why <paramref name="command"/>, which a task named <paramref name="asked"/>, may not run here; null when it may.</summary>
    public string? Refusal(string asked, CommandInfo command)
    {
        switch (command.CommandType)
        {
            case CommandTypes.Cmdlet:
            case CommandTypes.Function:
            case CommandTypes.Filter:
                break;
            case CommandTypes.Alias:
                return $"'{asked}' is an alias (of '{((AliasInfo)command).Definition}'); a command task names the cmdlet or function itself.";
            case CommandTypes.Application:
                return $"'{asked}' is a native program; a command task runs a cmdlet or function only.";
            default:
                return $"'{asked}' is a {command.CommandType}; a command task runs a cmdlet or function only.";
        }
        var qualified = string.IsNullOrEmpty(command.ModuleName) ? command.Name : command.ModuleName + "\\" + command.Name;
        if (_allowed is not null)
        {
            // A plain name allows that command of PowerShell's own modules or of -Module, never another module's
            // command of the same name (Evil\Get-Date): those are allowed by Module\Name only.
            return _allowed.Any(p => p.IsMatch(qualified) || (Trusted(command) && p.IsMatch(command.Name))) ? null
                : $"'{qualified}' is not among the commands this worker allows (-AllowCommand).";
        }
        if (_noCodeRunners && CodeRunners.Contains(command.Name, StringComparer.OrdinalIgnoreCase))
            return $"'{qualified}' runs code or programs of its own; a -NoScriptTask or NoLanguage worker runs it only when -AllowCommand names it.";
        if (_modules is not null)
        {
            if (!_modules.Contains(command.ModuleName))
                return $"'{qualified}' is not a command of the modules this -NoScriptTask worker imports (-Module {string.Join(", ", _modules)}); name it in -AllowCommand to allow it.";
        }
        return null;
    }
}

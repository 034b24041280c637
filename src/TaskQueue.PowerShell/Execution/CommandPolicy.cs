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

    /// <summary>Run code from text or start other programs: a -NoScriptTask worker runs them only when -AllowCommand names them.</summary>
    private static readonly string[] CodeRunners =
    {
        "Invoke-Expression", "Invoke-Command", "Add-Type", "Start-Process", "Start-Job", "Start-ThreadJob",
        "New-Module", "Import-Module", "Invoke-Item", "Set-Item", "New-Item",
    };

    private readonly WildcardPattern[]? _allowed;
    private readonly HashSet<string>? _modules;

    /// <param name="allowCommand">-AllowCommand: names or wildcard patterns (Name or Module\Name); null when not given.</param>
    /// <param name="noScriptTask">-NoScriptTask: without -AllowCommand, only the commands of <paramref name="modules"/>, and no code runners.</param>
    public CommandPolicy(IReadOnlyCollection<string>? allowCommand, bool noScriptTask, IEnumerable<string> modules)
    {
        if (allowCommand is { Count: > 0 })
            _allowed = allowCommand.Select(p => new WildcardPattern(p, WildcardOptions.IgnoreCase | WildcardOptions.CultureInvariant)).ToArray();
        else if (noScriptTask)
            _modules = new HashSet<string>(modules.Select(m => Path.GetFileNameWithoutExtension(m.TrimEnd('/', '\\'))), StringComparer.OrdinalIgnoreCase);
    }

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
            return _allowed.Any(p => p.IsMatch(command.Name) || p.IsMatch(qualified)) ? null
                : $"'{qualified}' is not among the commands this worker allows (-AllowCommand).";
        }
        if (_modules is not null)
        {
            if (CodeRunners.Contains(command.Name, StringComparer.OrdinalIgnoreCase))
                return $"'{qualified}' runs code or programs of its own; a -NoScriptTask worker runs it only when -AllowCommand names it.";
            if (!_modules.Contains(command.ModuleName))
                return $"'{qualified}' is not a command of the modules this -NoScriptTask worker imports (-Module {string.Join(", ", _modules)}); name it in -AllowCommand to allow it.";
        }
        return null;
    }
}

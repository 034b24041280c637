using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Execution;

/// <summary>
/// Creates the runspace of each worker slot, with the worker's modules imported once, its language mode, and what its
/// command tasks may run.
/// </summary>
internal sealed class RunspaceExecutorFactory
{
    private readonly string[] _modules;
    private readonly bool _allowScripts;
    private readonly CommandPolicy _commands;
    private readonly PSLanguageMode _languageMode;
    private readonly bool _isolate;
    // The process's environment as the worker started: put back after every task, by every slot.
    private readonly Lazy<EnvironmentBaseline> _environment;

    public RunspaceExecutorFactory(IReadOnlyList<string> modules, bool allowScripts, IReadOnlyCollection<string>? allowCommand = null,
        PSLanguageMode languageMode = PSLanguageMode.FullLanguage, bool isolate = false, bool sessionLive = false)
    {
        _environment = new Lazy<EnvironmentBaseline>(() => new EnvironmentBaseline(sessionLive));
        _modules = new string[modules.Count];
        for (var i = 0; i < _modules.Length; i++) _modules[i] = modules[i];
        _allowScripts = allowScripts;
        _commands = new CommandPolicy(allowCommand, noScriptTask: !allowScripts, modules, noLanguage: languageMode == PSLanguageMode.NoLanguage);
        _languageMode = languageMode;
        _isolate = isolate;
    }

    public ITaskExecutor Create()
    {
        var state = InitialSessionState.CreateDefault2();
        state.LanguageMode = _languageMode;
        return new RunspaceTaskExecutor(state, _modules, _allowScripts, _commands, _environment.Value, _isolate);
    }
}

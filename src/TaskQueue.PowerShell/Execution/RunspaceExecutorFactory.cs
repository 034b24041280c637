using System;
using System.Collections.Generic;
using System.Management.Automation.Runspaces;
using TaskQueue.Core.Worker;

namespace TaskQueue.PowerShell.Execution;

/// <summary>Creates the runspace of each worker slot, with the worker's modules imported once.</summary>
internal sealed class RunspaceExecutorFactory
{
    private readonly IReadOnlyList<string> _modules;
    private readonly bool _allowScripts;

    public RunspaceExecutorFactory(IReadOnlyList<string> modules, bool allowScripts)
    {
        _modules = modules;
        _allowScripts = allowScripts;
    }

    public ITaskExecutor Create()
    {
        return new RunspaceTaskExecutor(InitialSessionState.CreateDefault2(), ToArray(_modules), _allowScripts);
    }

    private static string[] ToArray(IReadOnlyList<string> list)
    {
        var array = new string[list.Count];
        for (var i = 0; i < array.Length; i++) array[i] = list[i];
        return array;
    }
}

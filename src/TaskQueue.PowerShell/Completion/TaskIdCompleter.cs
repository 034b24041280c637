using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;

namespace TaskQueue.PowerShell.Completion;

/// <summary>
/// Completes -Id of the cmdlets that act on tasks with the tasks of the -Queue typed (default: default) that people look
/// for: those waiting for others, the latest failures and the latest successes. Each is listed with its name
/// (Send-TqTask -Name), so a task is found by what it does, and the id is what is inserted.
/// </summary>
public sealed class TaskIdCompleter : IArgumentCompleter
{
    private const int Each = 20;

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var queue = fakeBoundParameters["Queue"] as string;
        if (string.IsNullOrEmpty(queue)) queue = "default";
        if (!QueueName.IsValid(queue)) return Array.Empty<CompletionResult>();
        if (RedisCompletion.Ask(fakeBoundParameters, broker => Tasks(broker, queue!)) is not { } tasks) return Array.Empty<CompletionResult>();
        var prefix = RedisCompletion.Word(wordToComplete);
        return tasks
            .Where(t => t.Id.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || t.Name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(t => new CompletionResult(t.Id, $"{t.Name} ({t.State}) {t.Id}", CompletionResultType.ParameterValue, $"{t.Name}: {t.State}, id {t.Id}"))
            .ToList();
    }

    private static async Task<List<(string Id, string Name, string State)>> Tasks(RedisBroker broker, string queue)
    {
        var waiting = broker.Reads.GetWaitingAsync(queue, Each);
        var failures = broker.Reads.GetFailuresAsync(queue, Each, maxTaskBytes: 16 * 1024);
        var results = broker.Reads.GetResultsAsync(queue, Each);
        var list = new List<(string Id, string Name, string State)>();
        list.AddRange((await waiting.ConfigureAwait(false)).Select(w => (w.Task.Id, w.Task.Label, "Waiting")));
        list.AddRange((await failures.ConfigureAwait(false)).Select(f => (f.Error.Id, f.Task?.Label ?? "", "Failed")));
        list.AddRange((await results.ConfigureAwait(false)).Select(r => (r.Id, r.Label, "Succeeded")));
        return list;
    }
}

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
/// Completes -Name of the schedule cmdlets with the schedules that exist: in the -Queue typed, or else in the queue the
/// cmdlet would use (default), or in every queue for Get-TqSchedule, which looks in all of them.
/// </summary>
public sealed class ScheduleNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var queue = fakeBoundParameters["Queue"] as string;
        var everyQueue = string.IsNullOrEmpty(queue) && string.Equals(commandName, "Get-TqSchedule", StringComparison.OrdinalIgnoreCase);
        return RedisCompletion.Complete(fakeBoundParameters, wordToComplete,
            broker => Names(broker, everyQueue ? null : string.IsNullOrEmpty(queue) ? "default" : queue));
    }

    private static async Task<string[]> Names(RedisBroker broker, string? queue)
    {
        var queues = queue is null ? await broker.Reads.ListQueuesAsync().ConfigureAwait(false) : new[] { queue };
        var names = new List<string>();
        foreach (var q in queues)
            names.AddRange((await broker.Schedules.GetSchedulesAsync(q).ConfigureAwait(false)).Select(s => s.Schedule.Name));
        return names.Distinct(StringComparer.Ordinal).OrderBy(n => n, StringComparer.Ordinal).ToArray();
    }
}

using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace TaskQueue.PowerShell.Completion;

/// <summary>Completes -Queue with the names of queues that exist in Redis (the -Redis argument, if typed, is honoured).</summary>
public sealed class QueueNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        RedisCompletion.Complete(fakeBoundParameters, wordToComplete, broker => broker.Reads.ListQueuesAsync());
}

using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Connection;

namespace TaskQueue.PowerShell.Completion;

/// <summary>Completes -Queue with the names of queues that exist in Redis (the -Redis argument, if typed, is honoured).</summary>
public sealed class QueueNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        string[] names;
        try
        {
            var configuration = fakeBoundParameters["Redis"] as string;
            var broker = new RedisBroker(RedisConnections.Get(configuration));
            var listing = broker.ListQueuesAsync();
            if (!listing.Wait(TimeSpan.FromSeconds(2))) return Array.Empty<CompletionResult>();
            names = listing.Result;
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
        var prefix = (wordToComplete ?? "").Trim('\'', '"');
        return names
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n))
            .ToList();
    }
}

using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading.Tasks;
using TaskQueue.Core.Broker;
using TaskQueue.Core.Connection;

namespace TaskQueue.PowerShell.Completion;

/// <summary>What the completers share: asking Redis briefly (the -Redis argument, if typed, is honoured) and matching the word typed.</summary>
internal static class RedisCompletion
{
    /// <summary>How long a completion may wait for Redis before it offers nothing.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(2);

    /// <summary>The names <paramref name="ask"/> finds, those starting with the word typed; none when Redis does not answer in time.</summary>
    public static IEnumerable<CompletionResult> Complete(IDictionary fakeBoundParameters, string wordToComplete, Func<RedisBroker, Task<string[]>> ask)
    {
        string[] names;
        try
        {
            var broker = RedisBroker.Connect(fakeBoundParameters["Redis"] as string);
            var asking = ask(broker);
            if (!asking.Wait(Patience)) return Array.Empty<CompletionResult>();
            names = asking.Result;
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

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
        if (Ask(fakeBoundParameters, ask) is not { } names) return Array.Empty<CompletionResult>();
        var prefix = Word(wordToComplete);
        return names
            .Where(n => n.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n))
            .ToList();
    }

    /// <summary>What <paramref name="ask"/> finds; null when Redis does not answer in time or fails.</summary>
    public static T? Ask<T>(IDictionary fakeBoundParameters, Func<RedisBroker, Task<T>> ask) where T : class
    {
        try
        {
            var asking = ask(RedisBroker.Connect(fakeBoundParameters["Redis"] as string));
            return asking.Wait(Patience) ? asking.Result : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The word typed, without the quotes it may have.</summary>
    public static string Word(string? wordToComplete) => (wordToComplete ?? "").Trim('\'', '"');
}

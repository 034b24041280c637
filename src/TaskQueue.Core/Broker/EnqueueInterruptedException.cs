using System;
using System.Collections.Generic;

namespace TaskQueue.Core.Broker;

/// <summary>
/// Redis failed in the middle of an enqueue: <see cref="Outcomes"/> holds what is known of each task
/// (default entries are the ones whose fate is unknown: their batch may or may not have been stored).
/// </summary>
public sealed class EnqueueInterruptedException : Exception
{
    public EnqueueInterruptedException(EnqueueOutcome[] outcomes, int confirmed, int unknown, Exception inner)
        : base($"Redis failed while storing tasks: {confirmed} were confirmed, {unknown} may or may not have been stored. {inner.Message}", inner)
    {
        Outcomes = outcomes;
        Confirmed = confirmed;
        Unknown = unknown;
    }

    public IReadOnlyList<EnqueueOutcome> Outcomes { get; }
    public int Confirmed { get; }
    public int Unknown { get; }
}

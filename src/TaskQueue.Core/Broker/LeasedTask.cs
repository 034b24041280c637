using System;
using System.Runtime.ExceptionServices;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Broker;

/// <summary>A task a worker holds the lease of: its id, its raw envelope and which attempt this is.</summary>
public sealed class LeasedTask
{
    public LeasedTask(string queue, string id, string envelopeJson, int attempt, int recoveries = 0)
    {
        Recoveries = recoveries;
        Queue = queue;
        Id = id;
        EnvelopeJson = envelopeJson;
        Attempt = attempt;
    }

    public string Queue { get; }
    public string Id { get; }
    public string EnvelopeJson { get; }
    public int Attempt { get; }
    /// <summary>How often the task's lease ran out before: its worker died or hung while holding it.</summary>
    public int Recoveries { get; }

    private TaskEnvelope? _envelope;
    private ExceptionDispatchInfo? _unreadable;

    /// <summary>
    /// Reads the envelope ahead of the slot that will run the task (the worker's dispatcher does it as it buffers
    /// the task, so the slot, the busiest thread, does not). What it throws is kept for <see cref="ReadEnvelope"/>.
    /// </summary>
    internal void ReadAhead()
    {
        if (_envelope is not null || _unreadable is not null) return;
        try { _envelope = TqJson.ReadEnvelope(EnvelopeJson); }
        catch (Exception ex) { _unreadable = ExceptionDispatchInfo.Capture(ex); }
    }

    /// <summary>The envelope, read once; throws what reading it threw (<see cref="MalformedTaskException"/> for a bad one).</summary>
    internal TaskEnvelope ReadEnvelope()
    {
        ReadAhead();
        _unreadable?.Throw();
        return _envelope!;
    }
}

using System;
using System.Threading;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using TaskQueue.Core.Model;
using TaskQueue.Core.Security;

namespace TaskQueue.Core.Broker;

/// <summary>A task a worker holds the lease of: its id, its envelope and which attempt this is.</summary>
/// <remarks>
/// A worker keeps a leased task from the fetch to the acknowledgement of its outcome, which outlives a
/// collection or two of the runtime's youngest generation: what the task holds then is copied and promoted, and
/// with a thousand tasks in flight that was most of a busy worker's collection work. So the raw envelope is let
/// go once read, the read envelope shares the strings many tasks repeat (its id, queue, kind and script), and it is
/// let go once the task ran (<see cref="ForgetEnvelope"/>).
/// </remarks>
public sealed class LeasedTask
{
    private byte[]? _envelopeUtf8;
    private TaskEnvelope? _envelope;
    private ExceptionDispatchInfo? _unreadable;

    /// <param name="envelope">The envelope JSON in UTF-8, as stored (empty when the task body is missing).</param>
    public LeasedTask(string queue, string id, byte[] envelope, int attempt, int recoveries = 0)
    {
        Recoveries = recoveries;
        Queue = queue;
        Id = id;
        _envelopeUtf8 = envelope;
        Attempt = attempt;
    }

    public string Queue { get; }
    public string Id { get; }
    public int Attempt { get; }
    /// <summary>How often the task's lease ran out before: its worker died or hung while holding it.</summary>
    public int Recoveries { get; }

    private long _leaseEndsMs = long.MaxValue;
    /// <summary>
    /// When this worker's lease of the task runs out, as last written to Redis (unix ms, Redis's clock); long.MinValue
    /// once Redis said the lease is gone. A slot does not start a task whose lease ran out while it waited (its worker
    /// was stopped, or cut off from Redis): another worker may run it already.
    /// </summary>
    public long LeaseEndsMs
    {
        get => Interlocked.Read(ref _leaseEndsMs);
        set => Interlocked.Exchange(ref _leaseEndsMs, value);
    }

    /// <summary>
    /// Reads the envelope ahead of the slot that will run the task (the worker's dispatcher does it as it buffers
    /// the task, so the slot, the busiest thread, does not). What it throws is kept for <see cref="ReadEnvelope"/>.
    /// </summary>
    internal void ReadAhead(SignaturePolicy? signatures, int maxBytes = int.MaxValue)
    {
        if (_envelope is not null || _unreadable is not null || _envelopeUtf8 is null) return;
        try
        {
            // Senders refuse a larger task; one written straight into Redis is not read at all.
            if (_envelopeUtf8.Length > maxBytes)
                throw new MalformedTaskException($"The task is {_envelopeUtf8.Length:N0} bytes as stored, over the {maxBytes:N0} a worker reads (senders refuse tasks over the limit): it was written into Redis by something else, and it did not run.");
            // The signature first: nothing of a task that may not run is parsed.
            var keyId = "";
            if (signatures is not null && signatures.Refusal(_envelopeUtf8, out keyId) is { } refusal) throw new BadSignatureException(refusal);
            var envelope = TqJson.ReadEnvelopeUtf8(_envelopeUtf8);
            if (keyId.Length > 0 && signatures!.Misplaced(envelope, keyId, Queue, Id) is { } misplaced) throw new BadSignatureException(misplaced);
            envelope.Id = Id;
            envelope.Queue = ShardRouter.Logical(Queue);
            envelope.Kind = envelope.Kind == TaskEnvelope.Kinds.Script ? TaskEnvelope.Kinds.Script : TaskEnvelope.Kinds.Command;
            if (envelope.Script is { } script) envelope.Script = SharedScript(script);
            _envelope = envelope;
        }
        catch (Exception ex) { _unreadable = ExceptionDispatchInfo.Capture(ex); }
        _envelopeUtf8 = null;
    }

    // Scripts repeat from task to task: leased tasks share one copy of each (up to a bound, then start over).
    private static readonly ConcurrentDictionary<string, string> SharedScripts = new(StringComparer.Ordinal);
    private const int MaxSharedScripts = 1024;

    private static string SharedScript(string script)
    {
        if (SharedScripts.TryGetValue(script, out var shared)) return shared;
        if (SharedScripts.Count >= MaxSharedScripts) SharedScripts.Clear();
        return SharedScripts.GetOrAdd(script, script);
    }

    /// <summary>
    /// The envelope, read once (by <see cref="ReadAhead"/>, with the worker's signature policy); throws what reading it
    /// threw (<see cref="MalformedTaskException"/> for a bad one, <see cref="BadSignatureException"/> for one that may not run).
    /// </summary>
    internal TaskEnvelope ReadEnvelope()
    {
        if (_envelopeUtf8 is not null && _envelope is null && _unreadable is null)
            throw new InvalidOperationException($"Task {Id} was not read ahead with the worker's signature policy.");
        _unreadable?.Throw();
        return _envelope ?? throw new InvalidOperationException($"The envelope of task {Id} was let go after the task ran.");
    }

    /// <summary>The task ran: its envelope is no longer needed while its outcome is written.</summary>
    internal void ForgetEnvelope() => _envelope = null;
}

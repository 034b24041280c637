using System;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Security;

/// <summary>
/// How old a task is (docs/SECURITY.md, "Replay"): counted from when it became due, the later of the time it was
/// sent and its NotBefore, both inside the signed bytes. A worker fails a task older than its MaxTaskAge as Expired
/// without running it, so stored bytes replayed after that never run; Restart-TqTask makes a task due again.
/// </summary>
public static class TaskFreshness
{
    /// <summary>Start-TqWorker's default -MaxTaskAge.</summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromDays(1);

    /// <summary>When the task became due: the later of when it was sent and its NotBefore.</summary>
    public static DateTimeOffset DueAt(TaskEnvelope envelope) =>
        envelope.NotBefore is { } notBefore && notBefore > envelope.EnqueuedAt ? notBefore : envelope.EnqueuedAt;

    /// <summary>Why the task may not run at <paramref name="now"/> for being too old, or null.</summary>
    public static string? Expired(TaskEnvelope envelope, DateTimeOffset now, TimeSpan maxAge)
    {
        if (maxAge <= TimeSpan.Zero) return null;
        var due = DueAt(envelope);
        if (now - due <= maxAge) return null;
        return $"The task became due at {due:u} and is older than this worker's -MaxTaskAge ({maxAge}), so it did not run: " +
            "a task that old was held up for too long or replayed. Retry-TqTask makes it due again (with -SigningKey for a signed task).";
    }

    /// <summary>
    /// The stored bytes of a task made due again at <paramref name="now"/> (Restart-TqTask): its NotBefore set to now,
    /// signed again with <paramref name="keyring"/> when it was signed. Null when it cannot be (a signed task and no
    /// keyring, or a body that does not read); the task then goes back as it was.
    /// </summary>
    public static byte[]? Restamp(byte[] stored, SigningKeyring? keyring, DateTimeOffset now)
    {
        var signed = EnvelopeSignature.BodyOffset(stored) > 0;
        if (signed && keyring is null) return null;
        TaskEnvelope envelope;
        try { envelope = TqJson.ReadEnvelopeUtf8(stored.AsSpan(EnvelopeSignature.BodyOffset(stored))); }
        catch (MalformedTaskException) { return null; }
        envelope.NotBefore = now;
        if (!signed) return TqJson.SerializeToUtf8(envelope);
        envelope.Kid = keyring!.SigningKeyId;
        return EnvelopeSignature.Sign(TqJson.SerializeToUtf8(envelope), keyring);
    }
}

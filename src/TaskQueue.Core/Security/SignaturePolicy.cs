using System;
using TaskQueue.Core.Model;

namespace TaskQueue.Core.Security;

/// <summary>
/// What a worker runs: with a keyring, only tasks signed by one of its keys for the queue and id they were found
/// under (unsigned ones too when <see cref="AllowUnsigned"/> says so); without one, anything, unchecked.
/// </summary>
public sealed class SignaturePolicy
{
    public SignaturePolicy(SigningKeyring? keyring, bool allowUnsigned)
    {
        _keyring = keyring;
        AllowUnsigned = allowUnsigned;
    }

    private volatile SigningKeyring? _keyring;

    /// <summary>The keys that verify; replaced by <see cref="Refresh"/> when the keyring's file changes.</summary>
    public SigningKeyring? Keyring => _keyring;

    /// <summary>
    /// Reads the keyring again when its file changed (New-TqSigningKey -Add or -Retire): a retired key stops verifying
    /// without a restart. Returns the new keyring, or null when nothing changed.
    /// </summary>
    public SigningKeyring? Refresh()
    {
        if (_keyring?.ReloadIfChanged() is not { } fresh) return null;
        _keyring = fresh;
        return fresh;
    }
    public bool AllowUnsigned { get; }

    /// <summary>Why the stored value may not run, or null; checked before a byte of it is parsed.</summary>
    internal string? Refusal(byte[] stored, out string keyId)
    {
        keyId = "";
        if (Keyring is null) return null;
        return EnvelopeSignature.Verify(stored, Keyring, out keyId) switch
        {
            SignatureCheck.Valid => null,
            SignatureCheck.Unsigned => AllowUnsigned ? null
                : "The task is not signed, and this worker runs only signed tasks. Send it with -SigningKey (or $env:TQ_SIGNING_KEY) holding a key of the worker's keyring.",
            SignatureCheck.UnknownKey => $"The task is signed with key '{keyId}', which the worker's keyring does not have (retired, or not this fleet's key).",
            SignatureCheck.Invalid => $"The task's bytes do not match its signature (key '{keyId}'): it was changed after it was signed, or signed with another secret.",
            SignatureCheck.Malformed => "The task's signature line cannot be read.",
            var other => throw new InvalidOperationException($"Unknown signature check result {other}."),
        };
    }

    /// <summary>Why a stored task may not run as task <paramref name="id"/> of <paramref name="queue"/>, or null: its signature, then where it was signed for.</summary>
    public string? Check(byte[] stored, string queue, string id)
    {
        if (Refusal(stored, out var keyId) is { } refusal) return refusal;
        if (keyId.Length == 0) return null;
        try { return Misplaced(TqJson.ReadEnvelopeUtf8(stored), keyId, queue, id); }
        catch (MalformedTaskException ex) { return ex.Message; }
    }

    /// <summary>
    /// Why a stored schedule may not fire (or be changed and signed again) as schedule <paramref name="name"/> of
    /// <paramref name="queue"/>, or null; <paramref name="schedule"/> is what it holds when it may, read only after its
    /// signature checked. <paramref name="signed"/> says it carries a signature that verified.
    /// </summary>
    public string? CheckSchedule(byte[] stored, string queue, string name, out ScheduleDefinition? schedule, out bool signed)
    {
        schedule = null;
        signed = false;
        if (Refusal(stored, out var keyId) is { } refusal) return refusal;
        try { schedule = TqJson.ReadScheduleUtf8(stored); }
        catch (Exception ex) when (ex is MalformedTaskException or System.Text.Json.JsonException) { return "The schedule cannot be read: " + ex.Message; }
        if (schedule is null) return "The schedule cannot be read.";
        if (keyId.Length > 0 && !Keyring!.Covers(keyId, queue))
        {
            schedule = null;
            return OutOfScope(keyId, queue);
        }
        if (keyId.Length > 0 && (schedule.Kid != keyId || schedule.Queue != queue || schedule.Name != name))
        {
            var moved = $"The schedule was signed as '{schedule.Name}' of queue '{schedule.Queue}' (key '{schedule.Kid}') but found as '{name}' of '{queue}' (key '{keyId}').";
            schedule = null;
            return moved;
        }
        signed = keyId.Length > 0;
        return null;
    }

    private static string OutOfScope(string keyId, string queue) =>
        $"The key '{keyId}' is limited to other queues than '{queue}' (New-TqSigningKey -Queue): it verifies nothing of this queue.";

    /// <summary>Why a verified envelope may not run where it was found: its signed kid, queue or id differ.</summary>
    internal string? Misplaced(TaskEnvelope envelope, string keyId, string queue, string id)
    {
        if (Keyring is { } keyring && !keyring.Covers(keyId, Broker.ShardRouter.Logical(queue))) return OutOfScope(keyId, Broker.ShardRouter.Logical(queue));
        if (!string.Equals(envelope.Kid, keyId, StringComparison.Ordinal))
            return $"The task's signed key id '{envelope.Kid}' is not the key '{keyId}' that signed it.";
        // A task of a sharded queue is signed as the queue's and found in one of its shards (Broker.ShardRouter).
        if (!string.Equals(envelope.Queue, Broker.ShardRouter.Logical(queue), StringComparison.Ordinal) || !string.Equals(envelope.Id, id, StringComparison.Ordinal))
            return $"The task was signed as task '{envelope.Id}' of queue '{envelope.Queue}' but found as '{id}' of '{queue}': it was copied or moved.";
        return null;
    }
}

/// <summary>A task that is not signed as its worker requires; it becomes a failure record with reason BadSignature.</summary>
public sealed class BadSignatureException : Exception
{
    public BadSignatureException(string message) : base(message) { }
}

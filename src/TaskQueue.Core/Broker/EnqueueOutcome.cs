namespace TaskQueue.Core.Broker;

public enum EnqueueStatus
{
    /// <summary>Redis failed before confirming the batch: the task may or may not be stored.</summary>
    Unknown,
    Stored,
    /// <summary>A task with the same id exists.</summary>
    IdExists,
    /// <summary>A live task holds the same unique key; <see cref="EnqueueOutcome.ExistingId"/> names it.</summary>
    Duplicate,
    /// <summary>The envelope is larger than <see cref="BrokerOptions.MaxTaskBytes"/>; nothing was sent.</summary>
    TooLarge,
}

/// <summary>What happened to one task of an enqueue call.</summary>
public readonly struct EnqueueOutcome
{
    public EnqueueOutcome(EnqueueStatus status, string? existingId = null, int bytes = 0)
    {
        Status = status;
        ExistingId = existingId;
        Bytes = bytes;
    }

    public EnqueueStatus Status { get; }
    public string? ExistingId { get; }
    /// <summary>The envelope's size in bytes (set for <see cref="EnqueueStatus.TooLarge"/>).</summary>
    public int Bytes { get; }
}

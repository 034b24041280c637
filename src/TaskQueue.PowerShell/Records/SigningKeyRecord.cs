using System;
using TaskQueue.Core.Security;

namespace TaskQueue.PowerShell.Records;

/// <summary>A key of a signing keyring (New-TqSigningKey), never its secret.</summary>
public sealed class SigningKeyRecord
{
    public string KeyId { get; set; } = "";
    /// <summary>True for the key new signatures are made with; the others only verify.</summary>
    public bool IsSigningKey { get; set; }
    public DateTimeOffset Created { get; set; }
    public string Path { get; set; } = "";
    /// <summary>The queue name patterns the key is limited to (New-TqSigningKey -Queue); empty when it covers every queue.</summary>
    public string[] Queue { get; set; } = Array.Empty<string>();

    internal static SigningKeyRecord From(SigningKeyInfo key, string path) =>
        new() { KeyId = key.Id, IsSigningKey = key.IsSigningKey, Created = key.Created, Path = path, Queue = key.Queues is { } queues ? System.Linq.Enumerable.ToArray(queues) : Array.Empty<string>() };
}

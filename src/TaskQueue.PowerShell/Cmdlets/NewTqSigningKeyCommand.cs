using System.IO;
using System.Management.Automation;
using TaskQueue.Core.Security;
using TaskQueue.PowerShell.Completion;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>
/// Writes a signing keyring (a key id and a 256-bit random secret, readable by its owner only), adds a key to one
/// (the new key signs, the older ones keep verifying) or retires a key. Writes the keyring's keys, never a secret.
/// </summary>
[Cmdlet(VerbsCommon.New, "TqSigningKey", DefaultParameterSetName = CreateSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(SigningKeyRecord))]
public sealed class NewTqSigningKeyCommand : PSCmdlet
{
    private const string CreateSet = "Create";
    private const string AddSet = "Add";
    private const string RetireSet = "Retire";

    /// <summary>The keyring file.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Adds a new key to an existing keyring and makes it the signing key.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AddSet)]
    public SwitchParameter Add { get; set; }

    /// <summary>Removes the key with this id: what it signed no longer verifies.</summary>
    [Parameter(Mandatory = true, ParameterSetName = RetireSet)]
    [ValidateNotNullOrEmpty]
    public string? Retire { get; set; }

    /// <summary>The new key's id (default k&lt;date&gt;-&lt;random&gt;).</summary>
    [Parameter(ParameterSetName = CreateSet)]
    [Parameter(ParameterSetName = AddSet)]
    [ValidateSimpleName("key id", 64)]
    public string? KeyId { get; set; }

    /// <summary>
    /// Limits the new key to queues whose names match these patterns (wildcards * and ?): it signs and verifies tasks
    /// and schedules of those queues only, so a key that leaks through one queue's tasks starts nothing on another.
    /// </summary>
    [Parameter(ParameterSetName = CreateSet)]
    [Parameter(ParameterSetName = AddSet)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[]? Queue { get; set; }

    protected override void EndProcessing()
    {
        var path = GetUnresolvedProviderPathFromPSPath(Path);
        var action = ParameterSetName switch
        {
            AddSet => "Add a signing key",
            RetireSet => $"Retire key '{Retire}'",
            _ => "Create a signing keyring",
        };
        if (!ShouldProcess(path, action)) return;
        SigningKeyring keyring;
        try
        {
            keyring = ParameterSetName switch
            {
                AddSet => SigningKeyring.AddKey(path, KeyId, Queue),
                RetireSet => SigningKeyring.RetireKey(path, Retire!),
                _ => SigningKeyring.Create(path, KeyId, Queue),
            };
        }
        catch (SigningKeyException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "SigningKeyNotWritten", ErrorCategory.InvalidOperation, path));
            return;
        }
        catch (IOException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "SigningKeyNotWritten", ErrorCategory.WriteError, path));
            return;
        }
        foreach (var key in keyring.Keys) WriteObject(SigningKeyRecord.From(key, path));
    }
}

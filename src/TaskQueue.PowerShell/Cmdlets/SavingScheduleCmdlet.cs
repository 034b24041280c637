using System.Management.Automation;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>The schedule cmdlets that store a schedule: each stores it signed when it has a keyring (-SigningKey).</summary>
public abstract class SavingScheduleCmdlet : ScheduleCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) the schedule is signed with; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;
}

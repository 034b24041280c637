using System.Management.Automation;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Enable- and Disable-TqSchedule: they store the schedule again, signed when they have a keyring (-SigningKey). The cmdlets that also make its task derive from ScheduleTaskCmdlet.</summary>
public abstract class SavingScheduleCmdlet : ScheduleCmdlet
{
    /// <summary>Path of the keyring (New-TqSigningKey) the schedule is signed with; defaults to $env:TQ_SIGNING_KEY.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    protected override string? SigningKeyPath => SigningKey;
    protected override bool UsesSigningKey => true;
}

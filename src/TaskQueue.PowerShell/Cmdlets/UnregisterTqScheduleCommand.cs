using System.Management.Automation;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Removes a recurring schedule. Tasks it already sent are not touched.</summary>
[Cmdlet(VerbsLifecycle.Unregister, "TqSchedule", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
public sealed class UnregisterTqScheduleCommand : ScheduleCmdlet
{
    protected override void ProcessRecord()
    {
        if (!ShouldProcess($"schedule '{Name}' in queue '{Queue}'", "Unregister")) return;
        if (!Run(b => b.Schedules.RemoveScheduleAsync(Queue, Name)))
            WriteError(new ErrorRecord(new ItemNotFoundException($"Queue '{Queue}' has no schedule named '{Name}'."),
                "ScheduleNotFound", ErrorCategory.ObjectNotFound, Name));
    }
}

using System.Management.Automation;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Turns a schedule on again: its next occurrence from now is due.</summary>
[Cmdlet(VerbsLifecycle.Enable, "TqSchedule", SupportsShouldProcess = true)]
[OutputType(typeof(ScheduleInfo))]
public sealed class EnableTqScheduleCommand : SavingScheduleCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var schedule = Load();
        if (schedule is null || !ShouldProcess($"schedule '{Name}' in queue '{Queue}'", "Enable")) return;
        schedule.Enabled = true;
        Save(schedule, PassThru);
    }
}

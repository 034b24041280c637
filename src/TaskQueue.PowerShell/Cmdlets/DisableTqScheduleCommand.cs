using System.Management.Automation;
using TaskQueue.PowerShell.Records;

namespace TaskQueue.PowerShell.Cmdlets;

/// <summary>Turns a schedule off: it fires no more until Enable-TqSchedule.</summary>
[Cmdlet(VerbsLifecycle.Disable, "TqSchedule", SupportsShouldProcess = true)]
[OutputType(typeof(ScheduleInfo))]
public sealed class DisableTqScheduleCommand : SavingScheduleCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var schedule = Load();
        if (schedule is null || !ShouldProcess($"schedule '{Name}' in queue '{Queue}'", "Disable")) return;
        schedule.Enabled = false;
        Save(schedule, PassThru);
    }
}
